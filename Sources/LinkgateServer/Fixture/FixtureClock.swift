import Foundation
import Synchronization

/// Fixture mode's clock (INTERFACE §12): real time shifted by an offset that the control API
/// sets or advances. Every expiry, lifetime, OAuth 1.0 timestamp window and audit entry of a
/// fixture server reads it. It keeps running from wherever it was put.
final class FixtureClock: Sendable {
    /// The offset to restore on reset: the seed's `now`, else none.
    private let initialOffset: Int64
    private let offset: Mutex<Int64>

    init(start: Int64?) {
        initialOffset = start.map { $0 - Self.realNow() } ?? 0
        offset = Mutex(initialOffset)
    }

    @Sendable func now() -> Int64 { Self.realNow() + offset.withLock { $0 } }

    /// Puts the clock at `epoch` seconds; returns the new time.
    @discardableResult
    func set(_ epoch: Int64) -> Int64 {
        offset.withLock { $0 = epoch - Self.realNow() }
        return now()
    }

    /// Moves the clock by `seconds` (negative: back); returns the new time.
    @discardableResult
    func advance(_ seconds: Int64) -> Int64 {
        offset.withLock { $0 += seconds }
        return now()
    }

    /// Back to the seed's time (or real time).
    func reset() { offset.withLock { $0 = initialOffset } }

    private static func realNow() -> Int64 { Int64(Date().timeIntervalSince1970) }
}
