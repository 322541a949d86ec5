import LinkgateStoreKit
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// A store call ran past its deadline (the database is unreachable or stuck).
struct DeadlineExceeded: Error {}

/// Runs `operation` and returns its result, or throws `DeadlineExceeded` when it has not called
/// its `started` argument within `untilStarted`, or has not finished within `total`. The
/// operation is then left to finish or fail in the background (a query waiting for a pooled
/// connection to a database that is down would otherwise wait for the pool's circuit breaker).
/// Deadlines are kept by `Watchdog.shared` (±100 ms), not by a timer per call.
func withDeadlines<T: Sendable>(untilStarted: TimeAmount, total: TimeAmount,
                                _ operation: @escaping @Sendable (_ started: @escaping @Sendable () -> Void) async throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let call = Watchdog.Call(continuation: continuation, untilStarted: untilStarted, total: total)
        Watchdog.shared.watch(call)
        call.task.withLock {
            $0 = Task {
                let result: Result<T, any Error>
                do {
                    result = .success(try await operation { call.started() })
                } catch {
                    result = .failure(error)
                }
                Watchdog.shared.forget(call)
                call.finish(result)
            }
        }
    }
}

/// Gives up on store calls past their deadlines: one sweep every 100 ms over the calls in
/// flight, so a call costs two dictionary updates instead of scheduling and cancelling timers.
final class Watchdog: Sendable {
    static let shared = Watchdog()
    static let interval: TimeAmount = .milliseconds(100)

    /// One call in flight.
    final class Call: @unchecked Sendable {
        let id: Int
        fileprivate let task = Mutex<Task<Void, Never>?>(nil)
        private let state: Mutex<(resume: (@Sendable (Result<any Sendable, any Error>) -> Void)?, deadline: NIODeadline)>
        private let total: NIODeadline

        init<T: Sendable>(continuation: CheckedContinuation<T, any Error>, untilStarted: TimeAmount, total: TimeAmount) {
            id = Watchdog.nextID.add(1, ordering: .relaxed).newValue
            let now = NIODeadline.now()
            self.total = now + total
            state = Mutex((resume: { result in continuation.resume(with: result.map { $0 as! T }) }, deadline: now + untilStarted))
        }

        /// The operation has its connection: from now on only the total deadline applies.
        func started() {
            state.withLock { $0.deadline = total }
        }

        func finish<T: Sendable>(_ result: Result<T, any Error>) {
            state.withLock { state -> (@Sendable (Result<any Sendable, any Error>) -> Void)? in
                defer { state.resume = nil }
                return state.resume
            }?(result.map { $0 as any Sendable })
        }

        /// Fails the call if its deadline has passed; returns whether it did.
        fileprivate func expire(at now: NIODeadline) -> Bool {
            let resume = state.withLock { state -> (@Sendable (Result<any Sendable, any Error>) -> Void)? in
                guard state.deadline <= now, let resume = state.resume else { return nil }
                state.resume = nil
                return resume
            }
            guard let resume else { return false }
            task.withLock { $0 }?.cancel()
            resume(.failure(DeadlineExceeded()))
            return true
        }
    }

    private static let nextID = Atomic<Int>(0)
    private let calls = Mutex<[Int: Call]>([:])

    private init() {
        MultiThreadedEventLoopGroup.singleton.any().scheduleRepeatedTask(initialDelay: Self.interval, delay: Self.interval) { _ in
            Watchdog.shared.sweep()
        }
    }

    func watch(_ call: Call) { calls.withLock { $0[call.id] = call } }
    func forget(_ call: Call) { _ = calls.withLock { $0.removeValue(forKey: call.id) } }

    private func sweep() {
        let now = NIODeadline.now()
        let inFlight = calls.withLock { Array($0.values) }
        for call in inFlight where call.expire(at: now) { forget(call) }
    }
}

/// PostgreSQL rows read by the shared record mapping (`StoredRecords`).
struct NamedRow: StoredRow {
    let row: PostgresRandomAccessRow

    init(_ row: PostgresRow) { self.row = row.makeRandomAccess() }

    func text(_ column: String) throws -> String { try row[column].decode(String.self) }
    func optionalText(_ column: String) throws -> String? { try row[column].decode(String?.self) }
    func integer(_ column: String) throws -> Int64 { try row[column].decode(Int64.self) }
    func optionalInteger(_ column: String) throws -> Int64? { try row[column].decode(Int64?.self) }
    func flag(_ column: String) throws -> Bool { try row[column].decode(Bool.self) }
}

extension Array where Element == PostgresRow {
    /// Maps every row through one of `StoredRecords`' functions.
    func records<T>(_ map: (NamedRow) throws -> T) throws -> [T] { try self.map { try map(NamedRow($0)) } }

    /// The first row mapped, or nil.
    func record<T>(_ map: (NamedRow) throws -> T) throws -> T? { try first.map { try map(NamedRow($0)) } }

    /// The first column of the first row.
    func scalar<T: PostgresDecodable>(_ type: T.Type) throws -> T? { try first.map { try $0.decode(T.self) } }
}

/// A statement prepared once per connection; its rows come back undecoded for `StoredRecords`.
protocol PreparedLookup: PostgresPreparedStatement where Row == PostgresRow {}

extension PreparedLookup {
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}
