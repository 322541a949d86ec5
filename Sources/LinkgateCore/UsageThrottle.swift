import Synchronization

/// Lets a frequent event (a token's use) be written at most once a minute per key.
public final class UsageThrottle: Sendable {
    private let last = Mutex<[String: Int64]>([:])
    public let interval: Int64

    public init(interval: Int64 = 60) {
        self.interval = interval
    }

    /// Whether to record the event for `key` now; remembers that it was.
    public func shouldRecord(_ key: String, now: Int64) -> Bool {
        last.withLock { last in
            if let previous = last[key], now - previous < interval { return false }
            if last.count > 10_000 { last.removeAll(keepingCapacity: true) }
            last[key] = now
            return true
        }
    }
}
