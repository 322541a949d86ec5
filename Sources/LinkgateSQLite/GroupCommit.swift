import Dispatch
import GRDB
import LinkgateMetrics
import LinkgateStoreKit

/// Group commit: concurrent write requests are run in one `BEGIN IMMEDIATE` transaction, each
/// inside its own savepoint, and all resume only after that transaction's COMMIT has returned.
/// With `synchronous=FULL` one fsync then covers a whole batch instead of one per request,
/// while every write a response acknowledges is still durable before the response is sent.
///
/// A job that throws changes nothing, and the others in the batch are unaffected. A batch first
/// runs its jobs back to back; should one throw, that transaction is rolled back and the batch
/// runs again with each job inside its own savepoint, which undoes only the job that throws.
/// (A savepoint and its release were about a fifth of the writer's work per `client_credentials`
/// token, and jobs almost never throw.) Jobs therefore must not act outside the database: one
/// may run twice, and only the run that commits counts. Jobs in a batch run one after another,
/// so the result is the same as running them serially.
///
/// The batches are driven from a dedicated serial queue, not a task: a busy event loop must not
/// delay the next batch after a commit (measured: a task-driven loop left the writer idle
/// while it waited to be scheduled).
final class GroupCommit: Sendable {
    private struct Job: Sendable {
        let work: @Sendable (Database) throws -> any Sendable
        let done: @Sendable (Result<any Sendable, Error>) -> Void
    }

    private let writer: any DatabaseWriter
    private let queue: BatchQueue<Job>
    private let drainer = DispatchQueue(label: "linkgate.group-commit")

    /// - Parameter maximumBatch: most jobs per transaction, so one batch cannot hold the write lock for long.
    init(writer: any DatabaseWriter, maximumBatch: Int = 256) {
        self.writer = writer
        queue = BatchQueue(maximumBatch: maximumBatch)
    }

    /// Runs `work` in the next batch; returns once the batch is committed.
    func write<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let result: any Sendable = try await withCheckedThrowingContinuation { continuation in
            let job = Job(work: { db in try work(db) }, done: { continuation.resume(with: $0) })
            if queue.append(job) { drainer.async { self.drain() } }
        }
        return result as! T
    }

    /// The batch's jobs back to back; nil (the transaction then rolls back) as soon as one throws.
    private static func runTogether(_ batch: [Job], _ db: Database) -> [Result<any Sendable, Error>]? {
        var results: [Result<any Sendable, Error>] = []
        results.reserveCapacity(batch.count)
        for job in batch {
            do {
                results.append(.success(try job.work(db)))
            } catch {
                return nil
            }
        }
        return results
    }

    /// Runs one job inside its own savepoint (with cached statements: this is per request), so a
    /// job that throws undoes only its own changes. Throws only if the savepoint itself cannot be
    /// undone: then the whole batch's transaction must roll back.
    private static func runAlone(_ job: Job, _ db: Database) throws -> Result<any Sendable, Error> {
        do {
            try db.cachedStatement(sql: "SAVEPOINT job").execute()
        } catch {
            return .failure(error)
        }
        do {
            let value = try job.work(db)
            try db.cachedStatement(sql: "RELEASE SAVEPOINT job").execute()
            return .success(value)
        } catch {
            try db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT job").execute()
            try db.cachedStatement(sql: "RELEASE SAVEPOINT job").execute()
            return .failure(error)
        }
    }

    /// Commits one batch: first its jobs together; if one threw, again with a savepoint each.
    private func commit(_ batch: [Job]) throws -> [Result<any Sendable, Error>] {
        try writer.writeWithoutTransaction { db -> [Result<any Sendable, Error>] in
            var together: [Result<any Sendable, Error>]?
            try db.inTransaction(.immediate) {
                together = Self.runTogether(batch, db)
                return together == nil ? .rollback : .commit
            }
            if let together { return together }
            var results: [Result<any Sendable, Error>] = []
            results.reserveCapacity(batch.count)
            try db.inTransaction(.immediate) {
                for job in batch { results.append(try Self.runAlone(job, db)) }
                return .commit
            }
            return results
        }
    }

    /// Commits batches until the queue is empty; runs on `drainer`.
    private func drain() {
        while true {
            let batch = queue.nextBatch()
            if batch.isEmpty { return }
            let began = ContinuousClock.now
            do {
                let results = try commit(batch)
                // INTERFACE §15: BEGIN IMMEDIATE to the end of COMMIT (its fsync), and the batch it carried.
                LinkgateMetrics.storeCommit(store: "sqlite", nanoseconds: (ContinuousClock.now - began).nanoseconds, batchSize: batch.count)
                for (job, result) in zip(batch, results) { job.done(result) }
            } catch {
                // The transaction itself failed (disk full, I/O error): nothing of the batch was committed.
                for job in batch { job.done(.failure(error)) }
            }
        }
    }
}
