import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Connections of the node's own for the point read on every bearer request and introspection
/// (a token by its digest), beside `PostgresClient`'s pool. Leasing a pooled connection cost
/// about 280 k instructions per call, more than the rest of an introspection
/// (scripts/bench.d/instructions.py --database); a checkout here is one lock.
///
/// A read takes an idle connection, or opens one while fewer than `limit` are open; when all are
/// busy it returns nil and the caller goes through the pool. A connection leaves the idle list
/// as soon as it closes (a database restart, an administrator's `pg_terminate_backend`), and is
/// checked again when taken: a query written to a closed PostgresNIO connection is dropped
/// unanswered. A connection whose read failed in any way is closed and not used again; the
/// caller repeats that read through the pool.
final class PointReadConnections: Sendable {
    private struct State {
        var idle: [PostgresConnection] = []
        var open = 0
        var nextID = 1_000_000
        var closed = false
    }

    private enum Lease { case idle(PostgresConnection), open(id: Int), none }

    let limit: Int
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private let state = Mutex(State())

    init(limit: Int, configuration: PostgresConnection.Configuration, logger: Logger) {
        self.limit = limit
        self.configuration = configuration
        self.logger = logger
    }

    /// How many of a node's `--database-pool` connections serve point reads: a quarter, at most
    /// one per core (reads are short, so few connections carry many), none for a pool under 4.
    static func share(ofPool poolSize: Int, cores: Int = System.coreCount) -> Int {
        min(poolSize / 4, max(1, cores))
    }

    /// `body` on a point-read connection no other read uses meanwhile; nil when none is free.
    func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T? {
        let lease = state.withLock { state -> Lease in
            guard !state.closed else { return .none }
            while let connection = state.idle.popLast() {
                if !connection.isClosed { return .idle(connection) }
                state.open -= 1
            }
            guard state.open < limit else { return .none }
            state.open += 1
            state.nextID += 1
            return .open(id: state.nextID)
        }
        let connection: PostgresConnection
        switch lease {
        case .none:
            return nil
        case .idle(let idle):
            connection = idle
        case .open(let id):
            do {
                connection = try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
            } catch {
                state.withLock { $0.open -= 1 }
                throw error
            }
            // (A closed channel is inactive before its close future's callbacks run, so a
            // connection put back after this fired was refused by the `isClosed` check below.)
            connection.closeFuture.whenComplete { [weak self] _ in self?.forget(idle: connection) }
        }
        do {
            let result = try await body(connection)
            let keep = state.withLock { state -> Bool in
                guard !state.closed, !connection.isClosed else { state.open -= 1; return false }
                state.idle.append(connection)
                return true
            }
            if !keep { try? await connection.close() }
            return result
        } catch {
            state.withLock { $0.open -= 1 }
            try? await connection.close()
            throw error
        }
    }

    private func forget(idle connection: PostgresConnection) {
        state.withLock { state in
            guard let index = state.idle.firstIndex(where: { $0 === connection }) else { return }
            state.idle.remove(at: index)
            state.open -= 1
        }
    }

    /// Closes the idle connections; those in use are closed when their read ends.
    func close() async {
        let idle = state.withLock { state -> [PostgresConnection] in
            state.closed = true
            state.open -= state.idle.count
            defer { state.idle = [] }
            return state.idle
        }
        for connection in idle { try? await connection.close() }
    }
}
