import Synchronization

/// Rows that are read on every request but rarely change (clients, users), kept in memory.
/// Every change goes through this store, which calls `invalidate()` after it commits; the
/// generation counter stops a read that raced such a change from caching the stale row.
final class EntityCache<Value: Sendable>: Sendable {
    private struct State {
        var values: [String: Value] = [:]
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    /// The cached value, or the one `load` reads (cached if no change happened meanwhile).
    func value(_ key: String, load: () async throws -> Value?) async throws -> Value? {
        let (cached, generation) = state.withLock { ($0.values[key], $0.generation) }
        if let cached { return cached }
        guard let loaded = try await load() else { return nil }
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.values.count >= capacity { state.values.removeAll(keepingCapacity: true) }
            state.values[key] = loaded
        }
        return loaded
    }

    func invalidate() {
        state.withLock { state in
            state.values.removeAll(keepingCapacity: true)
            state.generation &+= 1
        }
    }
}
