import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A bounded pool for password hashing (INTERFACE §10): at most one hash per core at once and a
/// short queue; when both are full a password check is refused at once (`KDFPool.Full`)
/// instead of waiting. Hashing a password an admin sets (`runAlways`) queues regardless:
/// it shares the threads, so the CPU stays bounded, but is never refused.
///
/// Its threads run at a lower scheduling priority (nice 10 on Linux) so that token,
/// introspection, bearer and signed-request traffic on the event loops never waits behind
/// hashing: under a password-guessing flood the hashes take only the CPU that is left over.
public final class KDFPool: Sendable {
    /// The pool and its queue are full: answer `429` now.
    public struct Full: Error, Sendable {}

    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var head = 0
        /// Password checks queued or running: the bound applies to these only.
        var checks = 0
        var pending: Int { jobs.count - head }
    }

    public let workers: Int
    public let queueLimit: Int
    private let state = Mutex(State())
    private let available = DispatchSemaphore(value: 0)

    /// The process-wide pool: one worker per core, a queue of sixteen jobs per worker (under a
    /// second of waiting at the standard scrypt cost).
    public static let shared = KDFPool(workers: ProcessInfo.processInfo.activeProcessorCount)

    public init(workers: Int, queueLimit: Int? = nil) {
        self.workers = max(1, workers)
        self.queueLimit = queueLimit ?? 16 * max(1, workers)
        for index in 0..<self.workers {
            let thread = Thread { [self] in self.work() }
            thread.name = "linkgate-kdf-\(index)"
            thread.start()
        }
    }

    /// Runs `job` on the pool and returns its result; throws `Full` without running it when
    /// every worker is busy and the queue is full.
    public func run<T: Sendable>(_ job: @escaping @Sendable () -> T) async throws -> T {
        try await submit(job, bounded: true)
    }

    /// Runs `job` on the pool, waiting for a turn however long the queue is.
    public func runAlways<T: Sendable>(_ job: @escaping @Sendable () -> T) async -> T {
        // Never throws: an unbounded submission is always accepted.
        try! await submit(job, bounded: false)
    }

    /// Password checks running or queued (the jobs the bound counts).
    public var occupancy: Int { state.withLock { $0.checks } }

    private func submit<T: Sendable>(_ job: @escaping @Sendable () -> T, bounded: Bool) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = state.withLock { state -> Bool in
                guard bounded else {
                    state.jobs.append { continuation.resume(returning: job()) }
                    return true
                }
                guard state.checks < workers + queueLimit else { return false }
                state.checks += 1
                state.jobs.append { [self] in
                    let result = job()
                    self.state.withLock { $0.checks -= 1 }
                    continuation.resume(returning: result)
                }
                return true
            }
            if accepted { available.signal() } else { continuation.resume(throwing: Full()) }
        }
    }

    private func work() {
        #if os(Linux)
        // Linux keeps the nice value per thread; 0 means the calling thread.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
        #endif
        while true {
            available.wait()
            let job = state.withLock { state -> (@Sendable () -> Void)? in
                guard state.pending > 0 else { return nil }
                let job = state.jobs[state.head]
                state.head += 1
                if state.head == state.jobs.count {
                    state.jobs.removeAll(keepingCapacity: true)
                    state.head = 0
                } else if state.head >= 64, state.head * 2 >= state.jobs.count {
                    state.jobs.removeFirst(state.head)
                    state.head = 0
                }
                return job
            }
            guard let job else { continue }
            job()
        }
    }
}
