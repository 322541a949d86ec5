import LinkgateStoreKit
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// A store call ran past its deadline (the database is unreachable or stuck).
struct DeadlineExceeded: Error {}

/// Runs `operation` but returns (throwing `DeadlineExceeded`) once `deadline` has passed,
/// leaving the operation to finish or fail in the background: a query waiting for a pooled
/// connection to a database that is down would otherwise wait for the pool's circuit breaker.
func withDeadline<T: Sendable>(_ deadline: TimeAmount, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let pending = Mutex<CheckedContinuation<T, any Error>?>(continuation)
        let running = Mutex<Task<Void, Never>?>(nil)
        let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: deadline) {
            guard let continuation = pending.withLock({ $0.take() }) else { return }
            running.withLock { $0 }?.cancel()
            continuation.resume(throwing: DeadlineExceeded())
        }
        let task = Task {
            let result: Result<T, any Error>
            do { result = .success(try await operation()) } catch { result = .failure(error) }
            pending.withLock { $0.take() }?.resume(with: result)
            timer.cancel()
        }
        running.withLock { $0 = task }
    }
}

/// Remembers for a second whether the database answered, so health checks cost at most one
/// query a second however often `/status` is asked.
final class HealthProbe: Sendable {
    private struct State {
        var healthy = true
        var checkedAt: ContinuousClock.Instant?
        var inFlight = false
    }

    private let state = Mutex(State())

    func check(_ probe: @escaping @Sendable () async throws -> Void) async -> Bool {
        let now = ContinuousClock.now
        let (cached, shouldProbe) = state.withLock { state -> (Bool, Bool) in
            if let at = state.checkedAt, now - at < .seconds(1) { return (state.healthy, false) }
            if state.inFlight { return (state.healthy, false) }
            state.inFlight = true
            return (state.healthy, true)
        }
        guard shouldProbe else { return cached }
        let healthy: Bool
        do { try await probe(); healthy = true } catch { healthy = false }
        state.withLock { state in
            state.healthy = healthy
            state.checkedAt = ContinuousClock.now
            state.inFlight = false
        }
        return healthy
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
