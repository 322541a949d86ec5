import Foundation
import Synchronization

/// Rows that are read on every request but rarely change (clients, users, consumers), kept in
/// memory by a store.
///
/// Every change made through the store calls `invalidate()` after it commits; with several
/// nodes (INTERFACE §11) a change on another node arrives as a notification that does the same.
/// Three guards keep the cache from serving a stale row:
/// - a revision counter: a load that raced an invalidation is returned but not cached;
/// - a time to live (`ttl`), a backstop for a lost notification;
/// - `setEnabled(false)` while notifications cannot arrive (the listener is reconnecting):
///   every read then goes to the database, and re-enabling flushes.
public final class EntityCache<Value: Sendable>: Sendable {
    private struct Entry {
        let value: Value
        let loadedAt: UInt64
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var revision: UInt64 = 0
        var enabled = true
    }

    private let state = Mutex(State())
    public let capacity: Int
    /// Seconds an entry is trusted; nil keeps it until invalidated (one process owns the database).
    public let ttl: Double?

    public init(capacity: Int = 10_000, ttl: Double? = nil) {
        self.capacity = capacity
        self.ttl = ttl
    }

    /// The cached value, or the one `load` reads (cached if no change happened meanwhile).
    public func value(_ key: String, load: () async throws -> Value?) async throws -> Value? {
        let now = ttl == nil ? 0 : Self.uptimeNanoseconds()
        let (cached, revision, enabled) = state.withLock { state -> (Entry?, UInt64, Bool) in
            (state.entries[key], state.revision, state.enabled)
        }
        if let cached, enabled {
            if let ttl, Double(now &- cached.loadedAt) / 1e9 >= ttl {
                // Too old: reload below (the stale entry is replaced or dropped then).
            } else {
                return cached.value
            }
        }
        guard let loaded = try await load() else { return nil }
        guard enabled else { return loaded }
        state.withLock { state in
            guard state.revision == revision, state.enabled else { return }
            if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
            state.entries[key] = Entry(value: loaded, loadedAt: now)
        }
        return loaded
    }

    /// Forgets every entry; loads in flight are not cached.
    public func invalidate() {
        state.withLock { state in
            state.entries.removeAll(keepingCapacity: true)
            state.revision &+= 1
        }
    }

    /// Turns caching off (every read loads) or back on; either way the cache starts empty.
    public func setEnabled(_ enabled: Bool) {
        state.withLock { state in
            state.entries.removeAll(keepingCapacity: true)
            state.revision &+= 1
            state.enabled = enabled
        }
    }

    private static func uptimeNanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }
}
