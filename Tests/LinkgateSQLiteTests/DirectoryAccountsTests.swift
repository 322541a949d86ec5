import LinkgateCore
import LinkgateCrypto
import Synchronization
import Testing
@testable import LinkgateSQLite

/// A directory whose users, passwords and reachability the test sets, counting what it is asked.
final class FakeDirectory: UserDirectory {
    struct State {
        var users: [String: (password: String, user: DirectoryUser)] = [:]
        var down = false
        var binds = 0
        var lookups = 0
    }
    let state = Mutex(State())
    var kind: String { "ldap" }

    func add(_ name: String, password: String, displayName: String, email: String? = nil, admin: Bool = false) {
        state.withLock { $0.users[name] = (password, DirectoryUser(name: name, dn: "uid=\(name),dc=test", displayName: displayName,
                                                                     email: email, admin: admin)) }
    }

    func authenticate(name: String, password: String) async throws(DirectoryError) -> DirectoryUser? {
        let result: Result<DirectoryUser?, DirectoryError> = state.withLock { state in
            if state.down { return .failure(.unavailable("stopped")) }
            state.binds += 1
            guard let entry = state.users[name], entry.password == password else { return .success(nil) }
            return .success(entry.user)
        }
        return try result.get()
    }

    func lookup(name: String) async throws(DirectoryError) -> DirectoryUser? {
        let result: Result<DirectoryUser?, DirectoryError> = state.withLock { state in
            if state.down { return .failure(.unavailable("stopped")) }
            state.lookups += 1
            return .success(state.users[name]?.user)
        }
        return try result.get()
    }
}

/// A clock the test moves.
final class TestClock: Sendable {
    let time = Mutex<Int64>(1_700_000_000)
    @Sendable func now() -> Int64 { time.withLock { $0 } }
    func advance(_ seconds: Int64) { time.withLock { $0 += seconds } }
}

@Suite("Directory users in accounts, grants and sessions (INTERFACE §13)")
struct DirectoryAccountsTests {
    let store: SQLiteStore
    let directory = FakeDirectory()
    let clock = TestClock()
    let gate: DirectoryGate
    let accounts: UserAccounts

    init() throws {
        store = try SQLiteStore()
        gate = DirectoryGate(directory: directory, ttl: 60, now: clock.now)
        accounts = UserAccounts(store: store, hasher: PasswordHasher(logN: 4, r: 8, p: 1), directory: gate, now: clock.now)
        directory.add("dora", password: "dora-secret", displayName: "Dora Explorer", email: "dora@example.com", admin: true)
    }

    @Test("a good directory password makes a shadow user; wrong, empty and unknown fail and count; nothing binds twice while remembered")
    func shadowUsers() async throws {
        guard case .valid(let dora) = try await accounts.check(name: "dora", password: "dora-secret", address: "192.0.2.1") else {
            Issue.record("dora's directory password was refused"); return
        }
        #expect((dora.directory, dora.displayName, dora.email, dora.admin, dora.isLocal) == ("ldap", "Dora Explorer", "dora@example.com", true, false))
        #expect(try await store.user(named: "dora")?.passwordHash == ShadowUsers.noPassword)
        #expect(!PasswordHasher.verify("dora-secret", against: ShadowUsers.noPassword))
        #expect(try await accounts.check(name: "dora", password: "dora-secret", address: "192.0.2.1").user?.name == "dora")
        #expect(directory.state.withLock { $0.binds } == 1)               // the second check was a remembered pair
        let bindsBefore = directory.state.withLock { $0.binds }
        #expect(try await accounts.check(name: "dora", password: "", address: "192.0.2.1") == .invalid)
        #expect(directory.state.withLock { $0.binds } == bindsBefore)     // an empty password never binds
        #expect(try await accounts.check(name: "dora", password: "wrong", address: "192.0.2.1") == .invalid)
        #expect(try await accounts.check(name: "nobody", password: "whatever", address: "192.0.2.1") == .invalid)
        #expect(accounts.throttle.lockouts(now: clock.now()).isEmpty)
    }

    @Test("the shadow follows the directory at each check; its password and admin flag cannot be set here")
    func refreshAndReadOnly() async throws {
        _ = try await accounts.check(name: "dora", password: "dora-secret", address: "192.0.2.1")
        directory.add("dora", password: "dora-secret-2", displayName: "Dora M.", email: nil, admin: false)
        // A bootstrap admin keeps the store from refusing dora's demotion as the last admin.
        _ = try await accounts.create(NewUser(name: "root", password: "root-pass-123", admin: true))
        let refreshed = try await accounts.check(name: "dora", password: "dora-secret-2", address: "192.0.2.1").user
        #expect(refreshed?.displayName == "Dora M." && refreshed?.email == nil && refreshed?.admin == false)
        await #expect(throws: ValidationError.self) { try await accounts.update(name: "dora", change: UserChange(password: "new-pass-123")) }
        await #expect(throws: ValidationError.self) { try await accounts.update(name: "dora", change: UserChange(admin: true)) }
        // The old password's remembered pair lasts at most the cache TTL.
        clock.advance(61)
        #expect(try await accounts.check(name: "dora", password: "dora-secret", address: "192.0.2.1") == .invalid)
    }

    @Test("local users win on a name clash and never ask the directory")
    func localWins() async throws {
        _ = try await accounts.create(NewUser(name: "dora", password: "local-dora-1"))
        #expect(try await accounts.check(name: "dora", password: "dora-secret", address: "192.0.2.1") == .invalid)
        #expect(try await accounts.check(name: "dora", password: "local-dora-1", address: "192.0.2.1").user?.isLocal == true)
        #expect(directory.state.withLock { $0.binds + $0.lookups } == 0)
    }

    @Test("directory down: unavailable, not counted; a remembered pair keeps working; recovery by itself")
    func down() async throws {
        _ = try await accounts.check(name: "dora", password: "dora-secret", address: "192.0.2.1")
        directory.state.withLock { $0.down = true }
        #expect(try await accounts.check(name: "dora", password: "dora-secret", address: "192.0.2.1").user?.name == "dora")
        #expect(try await accounts.check(name: "dora", password: "not-remembered", address: "192.0.2.1") == .unavailable)
        for _ in 0..<10 { _ = try await accounts.check(name: "dora", password: "not-remembered", address: "192.0.2.1") }
        #expect(accounts.throttle.lockouts(now: clock.now()).isEmpty)     // outages are not failures
        directory.state.withLock { $0.down = false }
        #expect(try await accounts.check(name: "dora", password: "not-remembered", address: "192.0.2.1") == .invalid)
    }

    @Test("grants, tokens and sessions see directory users the directory still has, and new ones on first mention")
    func followingUsers() async throws {
        let users = DirectoryFollowingUsers(store, gate: gate, now: clock.now)
        directory.add("eve", password: "eve-secret", displayName: "Eve")
        #expect(try await store.user(named: "eve") == nil)
        #expect(try await users.user(named: "eve")?.directory == "ldap")  // executeAs/impersonation of a new directory user
        #expect(try await store.user(named: "eve") != nil)
        directory.state.withLock { $0.users["eve"] = nil }
        #expect(try await users.user(named: "eve") != nil)                // within the TTL: the last answer
        clock.advance(61)
        #expect(try await users.user(named: "eve") == nil)                // the directory dropped eve
        directory.state.withLock { $0.down = true }
        #expect(try await users.user(named: "eve") == nil)                // stale answers while down
        await #expect(throws: DirectoryError.self) { try await users.user(named: "never-seen") }
        _ = try await accounts.create(NewUser(name: "local-one", password: "local-pass-1"))
        #expect(try await users.user(named: "local-one")?.isLocal == true)  // local users never ask
    }
}
