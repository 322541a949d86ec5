import Synchronization

/// Remembers for a second whether the database answered, so health checks cost at most one
/// query a second however often `/status` is asked.
public final class HealthProbe: Sendable {
    private struct State {
        var healthy = true
        var checkedAt: ContinuousClock.Instant?
        var inFlight = false
    }

    private let state = Mutex(State())

    public init() {}

    public func check(_ probe: @escaping @Sendable () async throws -> Void) async -> Bool {
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
