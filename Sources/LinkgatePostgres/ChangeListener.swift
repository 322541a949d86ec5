import Logging
import PostgresNIO

/// Keeps this node's caches in step with every other node's changes (INTERFACE §11).
///
/// `LISTEN`s on its own connection (not a pool slot, which would be returned and reused).
/// While it is not listening, notifications could be missed, so the caches are off and every
/// read goes to the database; when it (re)connects it flushes them before turning them on.
struct ChangeListener: Sendable {
    let store: PostgresStore

    func run() async {
        var delay = Duration.milliseconds(100)
        var connectionID = 1_000_000
        while !Task.isCancelled {
            connectionID += 1
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: store.connectionConfiguration, id: connectionID, logger: store.logger)
                defer { Task { try? await connection.close() } }
                try await connection.listen(on: PostgresStore.changeChannel) { notifications in
                    // Listening now: whatever changed while we were not is covered by the flush.
                    store.setCachesEnabled(true)
                    delay = .milliseconds(100)
                    for try await notification in notifications {
                        store.remoteChange(notification.payload)
                    }
                }
            } catch {
                if Task.isCancelled { break }
                store.logger.warning("change listener disconnected; caches off until it reconnects",
                                     metadata: ["database": "\(store.redactedLocation)"])
            }
            store.setCachesEnabled(false)
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(2))
        }
    }
}
