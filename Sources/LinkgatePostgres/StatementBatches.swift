import LinkgateCore
import LinkgateMetrics
import LinkgateStoreKit

/// Requests of one kind that arrive while a batch's statement is in flight go together in the
/// next one: one statement, one executor start-up and one round trip per batch instead of one of
/// each per request. For writes this is group commit, the counterpart of SQLite's `GroupCommit`:
/// one commit record and one WAL flush per batch, which was most of PostgreSQL's CPU per write,
/// and each caller resumes only once the statement that made its write has committed. For reads
/// (live tokens) it spares each request postgres-nio's per-call work. One batch at a time per
/// kind and node.
///
/// `together` runs a batch as one statement and returns each input's output, or nil for an input
/// it did not complete (a code it did not spend); those run `alone`, which must also say why.
/// When `together` fails for a reason one request can cause (a repeated key, a row deleted
/// meanwhile), every request of the batch runs alone, so only the one at fault fails; an
/// unavailable database fails them all at once.
final class StatementBatches<Input: Sendable, Output: Sendable>: Sendable {
    private struct Request: Sendable {
        var input: Input
        var done: @Sendable (Result<Output, any Error>) -> Void
    }

    private let queue = BatchQueue<Request>(maximumBatch: 256)
    private let together: @Sendable (PostgresStore, [Input]) async throws -> [Output?]
    private let alone: @Sendable (PostgresStore, Input) async throws -> Output
    private let commits: Bool

    /// - Parameter commits: whether a batch is a write, reported as a commit (INTERFACE §15).
    init(commits: Bool = true,
         together: @escaping @Sendable (PostgresStore, [Input]) async throws -> [Output?],
         alone: @escaping @Sendable (PostgresStore, Input) async throws -> Output) {
        self.commits = commits
        self.together = together
        self.alone = alone
    }

    /// For a kind whose statement answers every request it carries: a request that must run
    /// alone (after a failed batch) runs as a batch of one.
    convenience init(commits: Bool = true, each together: @escaping @Sendable (PostgresStore, [Input]) async throws -> [Output]) {
        self.init(commits: commits, together: { store, inputs in try await together(store, inputs) },
                  alone: { store, input in try await together(store, [input])[0] })
    }

    /// `input`'s output, once the statement of the batch that carried it has finished (for a
    /// write: committed).
    func run(_ input: Input, on store: PostgresStore) async throws -> Output {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Output, any Error>) in
            if queue.append(Request(input: input) { continuation.resume(with: $0) }) {
                Task { await self.drain(on: store) }
            }
        }
    }

    /// Runs batches until none is waiting.
    private func drain(on store: PostgresStore) async {
        while true {
            let batch = queue.nextBatch()
            if batch.isEmpty { return }
            let began = ContinuousClock.now
            var leftovers: [Request] = []
            do {
                let outputs = try await together(store, batch.map(\.input))
                // INTERFACE §15: the statement is the transaction; the batch it carried.
                if commits {
                    LinkgateMetrics.storeCommit(store: "postgresql", nanoseconds: (ContinuousClock.now - began).nanoseconds, batchSize: batch.count)
                }
                for (request, output) in zip(batch, outputs) {
                    if let output { request.done(.success(output)) } else { leftovers.append(request) }
                }
            } catch StoreError.unavailable(let code) {
                for request in batch { request.done(.failure(StoreError.unavailable(code: code))) }
            } catch where batch.count == 1 {
                batch[0].done(.failure(error))
            } catch {
                leftovers = batch
            }
            // Off the drainer, so that refusals (or a client replaying codes) never hold up the next batch.
            for request in leftovers {
                Task {
                    do {
                        request.done(.success(try await alone(store, request.input)))
                    } catch {
                        request.done(.failure(error))
                    }
                }
            }
        }
    }
}

extension PostgresStore {
    /// Runs a batch's statement, whose rows each name their request's place in the batch (column
    /// `request`, from 1: `WITH ORDINALITY`), and maps each row to its request; nil for a request
    /// without a row.
    func rowsByRequest<Statement: PreparedLookup, T>(_ statement: Statement, count: Int,
                                                     _ map: (NamedRow) throws -> T) async throws -> [T?] {
        var results = [T?](repeating: nil, count: count)
        for row in try await rows(statement) {
            let named = NamedRow(row)
            results[Int(try named.integer("request")) - 1] = try map(named)
        }
        return results
    }
}
