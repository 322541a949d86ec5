import Synchronization

/// Counts the open connections and refuses new ones above `maximum` (INTERFACE §10 "Connections").
///
/// A refused connection is accepted by the kernel and then closed at once by
/// ``ConnectionGuardHandler`` before any byte is read: the client sees the connection end
/// immediately instead of hanging in the listen backlog, and the count stays exact (NIO
/// accepts several sockets per read, so pausing `accept` would overshoot the limit).
public final class ConnectionLimiter: Sendable {
    /// The most connections open at once.
    public let maximum: Int
    private let openCount = Atomic<Int>(0)

    public init(maximum: Int) {
        self.maximum = maximum
    }

    /// Connections open now.
    public var open: Int { openCount.load(ordering: .relaxed) }

    /// Takes a slot; false when all `maximum` are taken.
    public func tryOpen() -> Bool {
        var current = openCount.load(ordering: .relaxed)
        while current < maximum {
            let (exchanged, original) = openCount.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Frees a slot taken by ``tryOpen()``.
    public func release() {
        openCount.subtract(1, ordering: .acquiringAndReleasing)
    }
}
