import Synchronization

/// The waiting line of a group commit, shared by both stores (SQLite's `GroupCommit`, PostgreSQL's
/// `StatementBatches`): writes queue here while a batch commits, and the next batch takes all that
/// waited. One drainer at a time: the write that finds the queue idle is told to start it,
/// and the drainer stops in the same lock that finds the queue empty, so no write is stranded.
public final class BatchQueue<Job: Sendable>: Sendable {
    private struct State {
        var jobs: [Job] = []
        var draining = false
    }

    private let state = Mutex(State())
    /// Upper bound on jobs per batch, so one batch cannot hold the database for long.
    public let maximumBatch: Int

    public init(maximumBatch: Int) {
        self.maximumBatch = maximumBatch
    }

    /// Queues `job`; true when no drainer is running and the caller must start one.
    public func append(_ job: Job) -> Bool {
        state.withLock { state in
            state.jobs.append(job)
            guard !state.draining else { return false }
            state.draining = true
            return true
        }
    }

    /// For the drainer: up to `maximumBatch` jobs in arrival order, or none, after marking the
    /// queue idle (the drainer must then stop).
    public func nextBatch() -> [Job] {
        state.withLock { state in
            guard !state.jobs.isEmpty else {
                state.draining = false
                return []
            }
            let batch = Array(state.jobs.prefix(maximumBatch))
            state.jobs.removeFirst(batch.count)
            return batch
        }
    }
}
