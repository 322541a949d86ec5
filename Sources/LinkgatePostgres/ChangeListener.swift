import Logging
import NIOCore
import PostgresNIO

/// Keeps this node's caches in step with every other node's changes (INTERFACE §11).
///
/// `LISTEN`s on its own connection (not a pool slot, which would be returned and reused).
/// While it is not listening, notifications could be missed, so the caches are off and every
/// read goes to the database; when it (re)connects it flushes them before turning them on.
/// A connection that silently stops delivering (a dropped NAT entry, a failover without a reset)
/// is caught by a heartbeat query every few seconds.
struct ChangeListener: Sendable {
    let store: PostgresStore
    static let heartbeat: Duration = .seconds(5)

    func run() async {
        var delay = Duration.milliseconds(100)
        var connectionID = 1_000_000
        var warned = false
        var listenedOnce = false
        while !Task.isCancelled {
            connectionID += 1
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: store.connectionConfiguration, id: connectionID, logger: store.logger)
                defer { Task { try? await connection.close() } }
                try await connection.listen(on: PostgresStore.changeChannel) { notifications in
                    // Listening now: whatever changed while we were not is covered by the flush.
                    store.setCachesEnabled(true)
                    listenedOnce = true
                    delay = .milliseconds(100)
                    if warned {
                        store.logger.notice("change listener reconnected; caches on", metadata: ["database": "\(store.redactedLocation)"])
                        warned = false
                    }
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for try await notification in notifications {
                                store.remoteChange(notification.payload)
                            }
                            throw ListenerEnded()
                        }
                        group.addTask {
                            while true {
                                try await Task.sleep(for: Self.heartbeat)
                                _ = try await withDeadlines(untilStarted: .seconds(3), total: .seconds(3)) { started in
                                    started()
                                    return try await connection.query("SELECT 1", logger: store.logger).collect().count
                                }
                            }
                        }
                        // Either ending (the stream closed, or a heartbeat failed) ends this connection.
                        _ = try await group.next()
                        group.cancelAll()
                    }
                }
            } catch {
                if Task.isCancelled { break }
            }
            store.setCachesEnabled(false)
            // Once per outage, not at every retry (nor for the first attempt at start, which
            // fails with the start itself when the database is unreachable).
            if !warned, listenedOnce || connectionID > 1_000_001 {
                store.logger.warning("change listener disconnected; caches off until it reconnects",
                                     metadata: ["database": "\(store.redactedLocation)"])
                warned = true
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(2))
        }
    }
}

/// The notification stream ended: the connection is gone.
struct ListenerEnded: Error {}
