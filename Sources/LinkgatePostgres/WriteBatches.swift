import LinkgateCore
import LinkgateMetrics
import LinkgateStoreKit

/// Group commit on PostgreSQL, the counterpart of SQLite's `GroupCommit`: the writes of one kind
/// that arrive while a batch's statement is in flight go together in the next one. Per batch
/// that is one executor start-up, one commit record and one WAL flush instead of one of each per
/// request, which was most of PostgreSQL's CPU per write. Each caller resumes only once the
/// statement that made its write has committed. One batch at a time per kind and node.
///
/// `together` runs a batch as one statement and returns each input's output, or nil for an input
/// it did not complete (a code it did not spend); those run `alone`, which must also say why.
/// When `together` fails for a reason one write can cause (a repeated key, a row deleted
/// meanwhile), every write of the batch runs alone, so only the one at fault fails; an
/// unavailable database fails them all at once.
final class WriteBatches<Input: Sendable, Output: Sendable>: Sendable {
    private struct Write: Sendable {
        var input: Input
        var done: @Sendable (Result<Output, any Error>) -> Void
    }

    private let queue = BatchQueue<Write>(maximumBatch: 256)
    private let together: @Sendable (PostgresStore, [Input]) async throws -> [Output?]
    private let alone: @Sendable (PostgresStore, Input) async throws -> Output

    init(together: @escaping @Sendable (PostgresStore, [Input]) async throws -> [Output?],
         alone: @escaping @Sendable (PostgresStore, Input) async throws -> Output) {
        self.together = together
        self.alone = alone
    }

    /// `input`'s output, once the batch that carried it has committed.
    func write(_ input: Input, on store: PostgresStore) async throws -> Output {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Output, any Error>) in
            if queue.append(Write(input: input) { continuation.resume(with: $0) }) {
                Task { await self.drain(on: store) }
            }
        }
    }

    /// Commits batches until none is waiting.
    private func drain(on store: PostgresStore) async {
        while true {
            let batch = queue.nextBatch()
            if batch.isEmpty { return }
            let began = ContinuousClock.now
            var leftovers: [Write] = []
            do {
                let outputs = try await together(store, batch.map(\.input))
                // INTERFACE §15: the statement is the transaction; the batch it carried.
                LinkgateMetrics.storeCommit(store: "postgresql", nanoseconds: (ContinuousClock.now - began).nanoseconds, batchSize: batch.count)
                for (write, output) in zip(batch, outputs) {
                    if let output { write.done(.success(output)) } else { leftovers.append(write) }
                }
            } catch StoreError.unavailable(let code) {
                for write in batch { write.done(.failure(StoreError.unavailable(code: code))) }
            } catch where batch.count == 1 {
                batch[0].done(.failure(error))
            } catch {
                leftovers = batch
            }
            // Off the drainer, so that refusals (or a client replaying codes) never hold up the next batch.
            for write in leftovers {
                Task {
                    do {
                        write.done(.success(try await alone(store, write.input)))
                    } catch {
                        write.done(.failure(error))
                    }
                }
            }
        }
    }
}
