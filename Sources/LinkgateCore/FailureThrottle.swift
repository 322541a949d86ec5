import Synchronization

/// A lockout in force: who, from where, how many failures, until when (INTERFACE §10).
/// `user` is nil for an address locked for any names; `address` is nil for a slowed name.
public struct Lockout: Sendable, Equatable {
    public var user: String?
    public var address: String?
    public var failures: Int
    /// Epoch seconds.
    public var until: Int64

    public init(user: String?, address: String?, failures: Int, until: Int64) {
        self.user = user
        self.address = address
        self.failures = failures
        self.until = until
    }
}

extension FailureThrottle {
    /// The address a client is counted by: IPv4 as itself (an IPv4-mapped IPv6 address too),
    /// IPv6 by its /64, since one host commonly holds a whole /64 and could otherwise rotate
    /// past every limit. An unknown address counts as one address, `unknown`.
    public static func addressKey(_ address: IPAddress?) -> String {
        guard let address else { return "unknown" }
        if let v4 = address.ipv4Value { return IPAddress(ipv4: v4).description }
        return IPAddressRange(address: address, prefixLength: 64)?.description ?? address.description
    }
}

/// The limits of a `FailureThrottle` (INTERFACE §10).
public struct ThrottlePolicy: Sendable {
    /// Failures of one name from one address within `window` that start a lockout of the pair.
    public var pairLimit: Int
    /// Failures from one address, any names, within `window` that lock the address.
    public var addressLimit: Int
    /// Failures of one name from any addresses within `window` that slow the name; nil: never.
    public var nameLimit: Int?
    public var window: Int64
    /// The first lockout's length; each further lockout of the same key doubles it up to `maximumBackoff`.
    public var firstBackoff: Int64
    public var maximumBackoff: Int64
    /// Keys tracked at most; beyond it idle keys are dropped first, so memory stays bounded under a flood of names.
    public var maximumKeys: Int

    public init(pairLimit: Int = 5, addressLimit: Int = 20, nameLimit: Int? = 50, window: Int64 = 900,
                firstBackoff: Int64 = 60, maximumBackoff: Int64 = 900, maximumKeys: Int = 100_000) {
        self.pairLimit = pairLimit
        self.addressLimit = addressLimit
        self.nameLimit = nameLimit
        self.window = window
        self.firstBackoff = firstBackoff
        self.maximumBackoff = maximumBackoff
        self.maximumKeys = maximumKeys
    }

    /// Passwords: 5 per (name, address), 20 per address, 50 per name, in 15 minutes.
    public static let passwords = ThrottlePolicy()
    /// Client secrets: the same per (client_id, address) and per address; a client id is never slowed as a whole.
    public static let clientSecrets = ThrottlePolicy(nameLimit: nil)
}

/// Counts failed credential checks per (name, address), per address and per name, and refuses
/// further checks during an exponential back-off, before any expensive work (INTERFACE §10).
///
/// Locking is per (name, address), so a guesser elsewhere cannot lock a user out. A name that
/// fails from many addresses is *slowed*: while its lockout lasts, only addresses with no
/// failure of their own for it may still try. Counts live in memory, per process.
///
/// Lockouts started or lifted here are reported to observers, and lockouts from other nodes
/// sharing the database are applied with `impose` and `lift` (INTERFACE §11).
public final class FailureThrottle: Sendable {
    public let policy: ThrottlePolicy

    /// A lockout change made by this process's checks or admins.
    public enum Change: Sendable, Equatable {
        /// A check of `name` from `address` failed here (other nodes count it too).
        case failed(name: String, address: String)
        /// A check passed here: the pair's count starts over everywhere.
        case succeeded(name: String, address: String)
        case imposed(Lockout)
        case lifted(user: String?, address: String?)
    }

    /// Why a check is refused: retry after this many seconds.
    public struct Refusal: Sendable, Equatable {
        public let retryAfter: Int64

        public init(retryAfter: Int64) {
            self.retryAfter = retryAfter
        }
    }

    private enum Key: Hashable {
        case pair(name: String, address: String)
        case address(String)
        case name(String)

        /// Pair and address counters track checks in flight; name counters do not.
        var isSettledByChecks: Bool { if case .name = self { false } else { true } }
    }

    private struct Counter {
        var failures = 0
        var windowStart: Int64
        var lockedUntil: Int64 = 0
        var lockouts = 0
        /// Checks begun and not yet settled: they count against the limit, so a burst of
        /// parallel guesses cannot all pass before the first failure is counted.
        var inFlight = 0

        func isIdle(at now: Int64, window: Int64) -> Bool { inFlight == 0 && now >= lockedUntil && now - windowStart >= window }

        /// Failures within the window at `now`.
        func recentFailures(at now: Int64, window: Int64) -> Int { now - windowStart >= window ? 0 : failures }
    }

    private let counters = Mutex<[Key: Counter]>([:])
    private let observers = Mutex<[@Sendable (Change) -> Void]>([])

    /// Calls `handler` for every lockout started by `recordFailure` and every `clear`.
    public func observe(_ handler: @escaping @Sendable (Change) -> Void) {
        observers.withLock { $0.append(handler) }
    }

    private func report(_ change: Change) {
        for observer in observers.withLock({ $0 }) { observer(change) }
    }

    /// Applies a lockout another node started: checks here are refused until it ends.
    public func impose(_ lockout: Lockout, now: Int64) {
        guard lockout.until > now, let key = Self.key(for: lockout) else { return }
        counters.withLock { counters in
            makeRoom(&counters, for: 1, now: now)
            var counter = counters[key] ?? Counter(windowStart: now)
            counter.lockedUntil = max(counter.lockedUntil, lockout.until)
            counter.failures = max(counter.failures, lockout.failures)
            counters[key] = counter
        }
    }

    /// Lifts what an admin cleared on another node (as `clear`, but not reported again).
    public func lift(user: String?, address: String?, now: Int64) {
        _ = clearCounters(user: user, address: address, now: now)
    }

    private static func key(for lockout: Lockout) -> Key? {
        switch (lockout.user.map(normalized), lockout.address) {
        case (let name?, let address?): .pair(name: name, address: address)
        case (nil, let address?): .address(address)
        case (let name?, nil): .name(name)
        case (nil, nil): nil
        }
    }

    public init(policy: ThrottlePolicy) {
        self.policy = policy
    }

    /// Names are unique case-insensitively (INTERFACE §10 counts per user, however it is spelled),
    /// and are counted by at most 128 bytes' worth of characters.
    private static func normalized(_ name: String) -> String { String(name.prefix(128)).lowercased() }

    /// Begins a check of `name` from `address`: nil when it may run now (then exactly one of
    /// `recordFailure`, `recordSuccess` or `cancel` must follow), else how long to wait.
    public func begin(name: String, address: String, now: Int64) -> Refusal? {
        let name = Self.normalized(name)
        return counters.withLock { counters -> Refusal? in
            if let refusal = refusal(counters, name: name, address: address, now: now) { return refusal }
            makeRoom(&counters, for: 2, now: now)
            counters[.pair(name: name, address: address), default: Counter(windowStart: now)].inFlight += 1
            counters[.address(address), default: Counter(windowStart: now)].inFlight += 1
            return nil
        }
    }

    /// Whether a check of `name` from `address` would be refused now, without beginning one.
    public func refusal(name: String, address: String, now: Int64) -> Refusal? {
        let name = Self.normalized(name)
        return counters.withLock { refusal($0, name: name, address: address, now: now) }
    }

    private func refusal(_ counters: [Key: Counter], name: String, address: String, now: Int64) -> Refusal? {
        var until: Int64 = 0
        let pair = counters[.pair(name: name, address: address)], byAddress = counters[.address(address)]
        if let pair { until = max(until, pair.lockedUntil) }
        if let byAddress { until = max(until, byAddress.lockedUntil) }
        // A slowed name refuses only addresses that have failed for it themselves.
        if let pair, pair.recentFailures(at: now, window: policy.window) > 0, let locked = counters[.name(name)]?.lockedUntil {
            until = max(until, locked)
        }
        if until > now { return Refusal(retryAfter: until - now) }
        // Once failures are counting up, checks already running could reach the limit: they
        // count against it, so a burst cannot get past it. With no recent failure, any number
        // of checks may run at once (a busy client's parallel requests).
        func full(_ counter: Counter?, _ limit: Int) -> Bool {
            guard let counter, counter.inFlight > 0 else { return false }
            let failures = counter.recentFailures(at: now, window: policy.window)
            return failures > 0 && failures + counter.inFlight >= limit
        }
        if full(pair, policy.pairLimit) || full(byAddress, policy.addressLimit) { return Refusal(retryAfter: 1) }
        return nil
    }

    /// Ends a begun check that decided nothing (the hashing pool was full, the store failed).
    public func cancel(name: String, address: String) {
        let name = Self.normalized(name)
        counters.withLock { counters in
            for key in [Key.pair(name: name, address: address), .address(address)] where counters[key] != nil {
                counters[key]!.inFlight = max(0, counters[key]!.inFlight - 1)
            }
        }
    }

    /// Ends a begun check that failed; returns the lockouts it started (for the audit log).
    public func recordFailure(name: String, address: String, now: Int64) -> [Lockout] {
        let started = countFailure(name: name, address: address, now: now, settling: true)
        report(.failed(name: Self.normalized(name), address: address))
        for lockout in started { report(.imposed(lockout)) }
        return started
    }

    /// Counts a failure another node saw, so a guesser gains nothing by spreading guesses over
    /// nodes (INTERFACE §11); returns the lockouts it started here.
    @discardableResult
    public func recordRemoteFailure(name: String, address: String, now: Int64) -> [Lockout] {
        countFailure(name: name, address: address, now: now, settling: false)
    }

    /// A check passed on another node: the pair's count starts over here too.
    public func recordRemoteSuccess(name: String, address: String) {
        let key = Key.pair(name: Self.normalized(name), address: address)
        counters.withLock { counters in
            guard var counter = counters[key] else { return }
            counter.failures = 0
            counter.lockedUntil = 0
            counters[key] = counter.inFlight == 0 ? nil : counter
        }
    }

    /// `settling`: the failure ends a check begun here, whose in-flight count it releases.
    private func countFailure(name: String, address: String, now: Int64, settling: Bool) -> [Lockout] {
        let name = Self.normalized(name)
        var keys: [(Key, Int)] = [(.pair(name: name, address: address), policy.pairLimit), (.address(address), policy.addressLimit)]
        if let nameLimit = policy.nameLimit { keys.append((.name(name), nameLimit)) }
        let started = counters.withLock { counters -> [Lockout] in
            makeRoom(&counters, for: keys.count, now: now)
            var started: [Lockout] = []
            for (key, limit) in keys {
                var counter = counters[key] ?? Counter(windowStart: now)
                if settling, key.isSettledByChecks { counter.inFlight = max(0, counter.inFlight - 1) }
                if now - counter.windowStart >= policy.window {
                    // A window without a lockout forgives the earlier ones: the back-off starts over.
                    if now - counter.lockedUntil >= policy.window { counter.lockouts = 0 }
                    counter.failures = 0
                    counter.windowStart = now
                }
                counter.failures += 1
                // At the limit and after every further failure in the window, a longer lockout.
                if counter.failures >= limit, counter.lockedUntil <= now {
                    let backoff = min(policy.maximumBackoff, policy.firstBackoff << min(counter.lockouts, 20))
                    counter.lockouts += 1
                    counter.lockedUntil = now + backoff
                    started.append(Self.lockout(key, counter))
                }
                counters[key] = counter
            }
            return started
        }
        return started
    }

    /// Ends a begun check that passed: the pair's count starts over (INTERFACE §10).
    public func recordSuccess(name: String, address: String) {
        let key = Key.pair(name: Self.normalized(name), address: address)
        let hadFailures = counters.withLock { counters -> Bool in
            let failures = counters[key]?.failures ?? 0
            counters[key] = nil
            if counters[.address(address)] != nil {
                counters[.address(address)]!.inFlight = max(0, counters[.address(address)]!.inFlight - 1)
            }
            return failures > 0
        }
        // Only a pass that starts a count over is news for other nodes (the usual pass is not).
        if hadFailures { report(.succeeded(name: Self.normalized(name), address: address)) }
    }

    /// The lockouts in force at `now`.
    public func lockouts(now: Int64) -> [Lockout] {
        counters.withLock { counters in
            counters.filter { $0.value.lockedUntil > now }.map { Self.lockout($0.key, $0.value) }
        }
        .sorted { ($0.until, $0.user ?? "", $0.address ?? "") > ($1.until, $1.user ?? "", $1.address ?? "") }
    }

    /// Forgets the counts and lockouts of `user` and/or `address` (both nil: everything); returns
    /// the lockouts in force that it lifted.
    @discardableResult
    public func clear(user: String?, address: String?, now: Int64) -> [Lockout] {
        let lifted = clearCounters(user: user, address: address, now: now)
        report(.lifted(user: user.map(Self.normalized), address: address))
        return lifted
    }

    private func clearCounters(user: String?, address: String?, now: Int64) -> [Lockout] {
        let user = user.map(Self.normalized)
        return counters.withLock { counters -> [Lockout] in
            var lifted: [Lockout] = []
            for (key, counter) in counters {
                let matches: Bool = switch key {
                case .pair(let n, let a): (user == nil || user == n) && (address == nil || address == a)
                case .address(let a): user == nil && (address == nil || address == a)
                case .name(let n): address == nil && (user == nil || user == n)
                }
                guard matches else { continue }
                if counter.lockedUntil > now { lifted.append(Self.lockout(key, counter)) }
                counters[key] = nil
            }
            return lifted
        }
    }

    private static func lockout(_ key: Key, _ counter: Counter) -> Lockout {
        switch key {
        case .pair(let name, let address): Lockout(user: name, address: address, failures: counter.failures, until: counter.lockedUntil)
        case .address(let address): Lockout(user: nil, address: address, failures: counter.failures, until: counter.lockedUntil)
        case .name(let name): Lockout(user: name, address: nil, failures: counter.failures, until: counter.lockedUntil)
        }
    }

    /// Keeps the table within `maximumKeys`, in bulk so a full table is not swept on every
    /// failure: idle keys go first, then unlocked ones with the fewest failures, down to 90 %.
    private func makeRoom(_ counters: inout [Key: Counter], for count: Int, now: Int64) {
        guard counters.count + count > policy.maximumKeys else { return }
        counters = counters.filter { !$0.value.isIdle(at: now, window: policy.window) }
        let target = policy.maximumKeys * 9 / 10
        guard counters.count + count > target else { return }
        let victims = counters.filter { $0.value.lockedUntil <= now && $0.value.inFlight == 0 }
            .sorted { $0.value.failures < $1.value.failures }
            .prefix(counters.count + count - target)
        for victim in victims { counters[victim.key] = nil }
    }
}
