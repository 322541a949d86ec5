import Foundation
import LinkgateCore
import Synchronization
import Testing

@Suite("INTERFACE §10 throttling of failed credential checks")
struct FailureThrottleTests {
    let t0: Int64 = 1_800_000_000

    @Test("5 failures of one name from one address lock that pair for 60 s; others are unaffected")
    func pairLockout() {
        let throttle = FailureThrottle(policy: .passwords)
        for i in 0..<4 {
            #expect(throttle.refusal(name: "alice", address: "198.51.100.7", now: t0 + Int64(i)) == nil)
            #expect(throttle.recordFailure(name: "alice", address: "198.51.100.7", now: t0 + Int64(i)).isEmpty)
        }
        let started = throttle.recordFailure(name: "Alice", address: "198.51.100.7", now: t0 + 4)
        #expect(started == [Lockout(user: "alice", address: "198.51.100.7", failures: 5, until: t0 + 64)])
        #expect(throttle.refusal(name: "ALICE", address: "198.51.100.7", now: t0 + 5) == .init(retryAfter: 59))
        // A guesser elsewhere cannot lock alice out; the same address may still try other names.
        #expect(throttle.refusal(name: "alice", address: "203.0.113.9", now: t0 + 5) == nil)
        #expect(throttle.refusal(name: "bob", address: "198.51.100.7", now: t0 + 5) == nil)
        #expect(throttle.refusal(name: "alice", address: "198.51.100.7", now: t0 + 64) == nil)
    }

    @Test("each further lockout doubles the back-off, up to 15 minutes, also after the window starts over")
    func backoffDoubles() throws {
        let throttle = FailureThrottle(policy: .passwords)
        var now = t0
        for _ in 0..<5 { _ = throttle.recordFailure(name: "a", address: "192.0.2.1", now: now) }
        var lengths: [Int64] = []
        for _ in 0..<4 {
            let until = try #require(throttle.lockouts(now: now).first { $0.user != nil && $0.address != nil }).until
            lengths.append(until - now)
            now = until
            let started = throttle.recordFailure(name: "a", address: "192.0.2.1", now: now)
            // The fourth lockout ends 900 s after the first failure: the window starts over there.
            #expect(started.isEmpty == (now - t0 >= 900))
        }
        #expect(lengths == [60, 120, 240, 480])
        // In the new window the fifth failure starts the next lockout: 960 s, capped at 900.
        for i in 1..<4 { #expect(throttle.recordFailure(name: "a", address: "192.0.2.1", now: now + Int64(i)).isEmpty) }
        let started = throttle.recordFailure(name: "a", address: "192.0.2.1", now: now + 4)
        #expect(started.map { $0.until - (now + 4) } == [900])
    }

    @Test("once failures count, checks begun and not yet settled count too: a parallel burst cannot run past the limit; with no failure, any number may run")
    func inFlight() {
        let throttle = FailureThrottle(policy: .passwords)
        // A busy, well-behaved caller: many checks at once, no failure yet.
        for _ in 0..<30 { #expect(throttle.begin(name: "svc", address: "192.0.2.2", now: t0) == nil) }
        for _ in 0..<30 { throttle.recordSuccess(name: "svc", address: "192.0.2.2") }
        // One failure, then a burst: only 4 more may run before any of them settles.
        _ = throttle.recordFailure(name: "alice", address: "192.0.2.1", now: t0)
        for _ in 0..<4 { #expect(throttle.begin(name: "alice", address: "192.0.2.1", now: t0) == nil) }
        #expect(throttle.begin(name: "alice", address: "192.0.2.1", now: t0) == .init(retryAfter: 1))
        // Another name from the same address still has room (20 per address).
        #expect(throttle.begin(name: "bob", address: "192.0.2.1", now: t0) == nil)
        throttle.cancel(name: "bob", address: "192.0.2.1")
        for _ in 0..<4 { _ = throttle.recordFailure(name: "alice", address: "192.0.2.1", now: t0) }
        #expect(throttle.begin(name: "alice", address: "192.0.2.1", now: t0)?.retryAfter == 60)
    }

    @Test("addresses are counted as IPv4, or by their IPv6 /64")
    func addressKeys() {
        #expect(FailureThrottle.addressKey(IPAddress("198.51.100.7")) == "198.51.100.7")
        #expect(FailureThrottle.addressKey(IPAddress("::ffff:198.51.100.7")) == "198.51.100.7")
        #expect(FailureThrottle.addressKey(IPAddress("2001:db8:1:2:aaaa::1")) == "2001:db8:1:2::/64")
        #expect(FailureThrottle.addressKey(IPAddress("2001:db8:1:2:bbbb::9")) == "2001:db8:1:2::/64")
        #expect(FailureThrottle.addressKey(nil) == "unknown")
    }

    @Test("a success resets the pair's count")
    func successResets() {
        let throttle = FailureThrottle(policy: .passwords)
        for i in 0..<4 { _ = throttle.recordFailure(name: "alice", address: "192.0.2.1", now: t0 + Int64(i)) }
        throttle.recordSuccess(name: "alice", address: "192.0.2.1")
        for i in 0..<4 { #expect(throttle.recordFailure(name: "alice", address: "192.0.2.1", now: t0 + 10 + Int64(i)).isEmpty) }
        #expect(throttle.refusal(name: "alice", address: "192.0.2.1", now: t0 + 20) == nil)
    }

    @Test("20 failures from one address for any names lock the address")
    func addressLockout() {
        let throttle = FailureThrottle(policy: .passwords)
        var started: [Lockout] = []
        for i in 0..<20 { started += throttle.recordFailure(name: "user\(i)", address: "2001:db8::1", now: t0) }
        #expect(started == [Lockout(user: nil, address: "2001:db8::1", failures: 20, until: t0 + 60)])
        #expect(throttle.refusal(name: "someone-new", address: "2001:db8::1", now: t0 + 1) != nil)
        #expect(throttle.refusal(name: "someone-new", address: "2001:db8::2", now: t0 + 1) == nil)
    }

    @Test("50 failures of a name from many addresses slow it: failing addresses wait, a clean address may still try")
    func nameSlowed() {
        let throttle = FailureThrottle(policy: .passwords)
        var started: [Lockout] = []
        for i in 0..<50 { started += throttle.recordFailure(name: "alice", address: "10.0.\(i / 4).\(i % 4)", now: t0) }
        #expect(started.contains(Lockout(user: "alice", address: nil, failures: 50, until: t0 + 60)))
        #expect(throttle.refusal(name: "alice", address: "10.0.0.0", now: t0 + 1) != nil)
        #expect(throttle.refusal(name: "alice", address: "192.0.2.50", now: t0 + 1) == nil)
    }

    @Test("failures outside the 15-minute window do not count")
    func window() {
        let throttle = FailureThrottle(policy: .passwords)
        for i in 0..<4 { _ = throttle.recordFailure(name: "alice", address: "192.0.2.1", now: t0 + Int64(i)) }
        #expect(throttle.recordFailure(name: "alice", address: "192.0.2.1", now: t0 + 900).isEmpty)
    }

    @Test("admins see lockouts and clear them by user, by address, or all")
    func listAndClear() {
        let throttle = FailureThrottle(policy: .passwords)
        for _ in 0..<5 {
            _ = throttle.recordFailure(name: "alice", address: "192.0.2.1", now: t0)
            _ = throttle.recordFailure(name: "bob", address: "192.0.2.2", now: t0)
        }
        #expect(Set(throttle.lockouts(now: t0).compactMap(\.user)) == ["alice", "bob"])
        let lifted = throttle.clear(user: "ALICE", address: nil, now: t0)
        #expect(lifted.map(\.user) == ["alice"])
        #expect(throttle.refusal(name: "alice", address: "192.0.2.1", now: t0) == nil)
        #expect(throttle.refusal(name: "bob", address: "192.0.2.2", now: t0) != nil)
        throttle.clear(user: nil, address: "192.0.2.2", now: t0)
        #expect(throttle.lockouts(now: t0).isEmpty)
    }

    @Test("client secrets: per (client_id, address) and per address; a client id is never slowed as a whole")
    func clientSecretPolicy() {
        let throttle = FailureThrottle(policy: .clientSecrets)
        for i in 0..<60 { _ = throttle.recordFailure(name: "client-1", address: "10.1.\(i).1", now: t0) }
        #expect(throttle.refusal(name: "client-1", address: "10.1.0.1", now: t0) == nil)
        #expect(throttle.lockouts(now: t0).isEmpty)
    }

    @Test("the table stays within its bound under a flood of names")
    func bounded() {
        let throttle = FailureThrottle(policy: ThrottlePolicy(maximumKeys: 300))
        for i in 0..<2_000 { _ = throttle.recordFailure(name: "n\(i)", address: "10.\(i % 7).0.1", now: t0 + Int64(i)) }
        // The addresses keep their lockouts even though the names come and go.
        #expect(throttle.lockouts(now: t0 + 2_000).contains { $0.user == nil })
    }
}

/// Holds pool jobs until opened.
private final class Gate: Sendable {
    private let isOpen = Mutex(false)
    func open() { isOpen.withLock { $0 = true } }
    func wait() { while !isOpen.withLock({ $0 }) { pause(0.001) } }
}

private func pause(_ seconds: Double) {
    var ts = timespec(tv_sec: 0, tv_nsec: Int(seconds * 1e9))
    nanosleep(&ts, nil)
}

@Suite("INTERFACE §10 bounded password-hashing pool")
struct KDFPoolTests {
    @Test("at most workers + queue jobs at once; the next is refused at once, and the pool recovers")
    func bounded() async throws {
        let pool = KDFPool(workers: 1, queueLimit: 2)
        let gate = Gate()
        let first = Task { try await pool.run { gate.wait(); return 1 } }
        let second = Task { try await pool.run { gate.wait(); return 1 } }
        let third = Task { try await pool.run { gate.wait(); return 1 } }
        // Wait for the three to reach the pool (one running, two queued).
        for _ in 0..<2_000 where pool.occupancy < 3 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(pool.occupancy == 3)
        await #expect(throws: KDFPool.Full.self) { _ = try await pool.run { 2 } }
        gate.open()
        #expect(try await first.value + second.value + third.value == 3)
        #expect(try await pool.run { 3 } == 3)
    }
}

@Suite("INTERFACE §10 per-link network restrictions")
struct AddressAllowListTests {
    @Test("null or [] allow any address; entries are checked and canonical")
    func parse() throws {
        #expect(try AddressAllowList.parse(nil) == .any)
        #expect(try AddressAllowList.parse([]) == .any)
        let list = try AddressAllowList.parse(["203.0.113.0/24", " 2001:DB8::/32 ", "127.0.0.1"])
        #expect(list.strings == ["203.0.113.0/24", "2001:db8::/32", "127.0.0.1/32"] || list.strings == ["203.0.113.0/24", "2001:db8::/32", "127.0.0.1"])
        #expect(AddressAllowList(stored: list.stored) == list)
        for bad in ["", "300.1.1.1", "10.0.0.0/33", "example.com", "::1/129", "1.2.3.4/-1"] {
            #expect(throws: ValidationError.self, "\(bad)") { try AddressAllowList.parse([bad]) }
        }
        #expect(throws: ValidationError.self) { try AddressAllowList.parse(Array(repeating: "10.0.0.1", count: 101)) }
    }

    @Test("allows addresses inside the ranges only; an unknown address passes only an unrestricted list")
    func allows() throws {
        let list = try AddressAllowList.parse(["203.0.113.0/24", "2001:db8::/32"])
        #expect(list.allows(IPAddress("203.0.113.200")))
        #expect(list.allows(IPAddress("2001:db8:1::5")))
        #expect(!list.allows(IPAddress("203.0.114.1")))
        #expect(!list.allows(IPAddress("2001:db9::1")))
        #expect(!list.allows(nil))
        #expect(AddressAllowList.any.allows(nil))
        // A stored list that no longer parses refuses rather than allowing everything.
        #expect(!AddressAllowList(stored: "garbage").allows(IPAddress("203.0.113.1")))
    }
}

@Suite("INTERFACE §11 lockouts shared among nodes")
struct SharedLockoutTests {
    @Test("a lockout started here is reported; one imposed from another node refuses checks here until it ends")
    func imposeAndReport() {
        let here = FailureThrottle(policy: .passwords)
        let there = FailureThrottle(policy: .passwords)
        let reported = Mutex<[FailureThrottle.Change]>([])
        there.observe { change in reported.withLock { $0.append(change) } }
        for _ in 0..<5 {
            #expect(there.begin(name: "Alice", address: "203.0.113.9", now: 1000) == nil)
            _ = there.recordFailure(name: "Alice", address: "203.0.113.9", now: 1000)
        }
        let changes = reported.withLock { $0 }
        #expect(changes.filter { $0 == .failed(name: "alice", address: "203.0.113.9") }.count == 5)
        let imposed = changes.compactMap { if case .imposed(let lockout) = $0 { lockout } else { nil } }
        #expect(imposed.count == 1)
        guard let lockout = imposed.first else { Issue.record("no lockout reported"); return }
        #expect(lockout.user == "alice" && lockout.address == "203.0.113.9" && lockout.until == 1060)

        #expect(here.begin(name: "alice", address: "203.0.113.9", now: 1001) == nil)
        here.cancel(name: "alice", address: "203.0.113.9")
        here.impose(lockout, now: 1001)
        #expect(here.begin(name: "ALICE", address: "203.0.113.9", now: 1001) == FailureThrottle.Refusal(retryAfter: 59))
        #expect(here.begin(name: "alice", address: "198.51.100.1", now: 1001) == nil)  // other addresses are not locked
        #expect(here.lockouts(now: 1001) == [lockout])
        // An expired lockout from elsewhere is ignored.
        here.impose(Lockout(user: "bob", address: "203.0.113.9", failures: 5, until: 900), now: 1001)
        #expect(here.begin(name: "bob", address: "203.0.113.9", now: 1001) == nil)
    }

    @Test("failures counted on other nodes add up here; a pass elsewhere starts the pair over; neither is reported again")
    func remoteCounts() {
        let throttle = FailureThrottle(policy: .passwords)
        let reported = Mutex<[FailureThrottle.Change]>([])
        throttle.observe { change in reported.withLock { $0.append(change) } }
        for _ in 0..<3 { throttle.recordRemoteFailure(name: "alice", address: "203.0.113.9", now: 1000) }
        throttle.recordRemoteSuccess(name: "Alice", address: "203.0.113.9")
        for _ in 0..<4 { throttle.recordRemoteFailure(name: "alice", address: "203.0.113.9", now: 1000) }
        #expect(throttle.begin(name: "alice", address: "203.0.113.9", now: 1000) == nil)  // 4 of 5: one more try
        _ = throttle.recordFailure(name: "alice", address: "203.0.113.9", now: 1000)
        #expect(throttle.begin(name: "alice", address: "203.0.113.9", now: 1001) == FailureThrottle.Refusal(retryAfter: 59))
        #expect(reported.withLock { $0 }.filter { if case .failed = $0 { false } else if case .imposed = $0 { false } else { true } }.isEmpty)
        #expect(reported.withLock { $0 }.count == 2)  // only the local failure and the lockout it started
    }

    @Test("an admin's clear is reported; a lift from another node clears without being reported again")
    func liftAndReport() {
        let throttle = FailureThrottle(policy: .passwords)
        let reported = Mutex<[FailureThrottle.Change]>([])
        throttle.observe { change in reported.withLock { $0.append(change) } }
        throttle.impose(Lockout(user: "alice", address: "203.0.113.9", failures: 5, until: 2000), now: 1000)
        throttle.lift(user: "Alice", address: nil, now: 1000)
        #expect(throttle.lockouts(now: 1000).isEmpty)
        #expect(reported.withLock { $0 }.isEmpty)
        throttle.impose(Lockout(user: nil, address: "203.0.113.9", failures: 20, until: 2000), now: 1000)
        throttle.clear(user: nil, address: "203.0.113.9", now: 1000)
        #expect(throttle.lockouts(now: 1000).isEmpty)
        #expect(reported.withLock { $0 } == [.lifted(user: nil, address: "203.0.113.9")])
    }
}
