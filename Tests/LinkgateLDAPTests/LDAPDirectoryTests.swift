import Foundation
import LinkgateCore
@testable import LinkgateLDAP
import Testing

/// The private slapd of scripts/ldap-test-server (scripts/test starts one and sets these).
enum TestDirectory {
    static let environment = ProcessInfo.processInfo.environment
    /// LINKGATE_TEST_LDAP: the shared test directory's URL.
    static var url: String? { environment["LINKGATE_TEST_LDAP"].flatMap { $0.isEmpty ? nil : $0 } }
    static var bindDN: String { environment["LINKGATE_TEST_LDAP_BIND_DN"] ?? "cn=linkgate,ou=services,dc=example,dc=com" }
    static var bindPassword: String { environment["LINKGATE_TEST_LDAP_BIND_PASSWORD"] ?? "linkgate-service-secret" }
    static let baseDN = "dc=example,dc=com"
    static let adminGroup = "cn=linkgate-admins,ou=groups,dc=example,dc=com"
    static let operatorsGroup = "cn=operators,ou=groups,dc=example,dc=com"

    static func configuration(url: String? = nil, adminGroupDN: String? = adminGroup) -> LDAPConfiguration {
        LDAPConfiguration(url: url ?? self.url ?? "ldap://127.0.0.1:1", bindDN: bindDN, bindPassword: bindPassword,
                          baseDN: baseDN, adminGroupDN: adminGroupDN)
    }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
}

/// A slapd of its own for a test that stops, freezes or edits its directory. Call `remove()`
/// when done (in a `defer`, which also keeps it alive until the end of the test).
final class PrivateSlapd {
    let directory: URL
    private(set) var url = ""

    /// `ldaps://127.0.0.1:PORT` when started with an ldaps port.
    private(set) var ldapsURL: String?

    init(ldaps: Bool = false) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("linkgate-ldap-\(UUID().uuidString.prefix(8))")
        if ldaps {
            let ports = try freeLoopbackPorts(2)
            url = try script("start", arguments: [String(ports[0]), String(ports[1])]).first ?? ""
            ldapsURL = "ldaps://127.0.0.1:\(ports[1])"
        } else {
            url = try script("start").first ?? ""
        }
        #expect(url.hasPrefix("ldap://127.0.0.1:"))
    }

    /// The CA that signed the server's certificate.
    var caFile: String { directory.appendingPathComponent("tls/ca.pem").path }

    /// Stops the server and deletes its directory.
    func remove() {
        if let pid = try? pid { kill(pid, SIGCONT) }
        _ = try? script("stop")
        try? FileManager.default.removeItem(at: directory)
    }

    /// `scripts/ldap-test-server ACTION DIR`: its last three lines (URL, bind DN, password).
    @discardableResult
    func script(_ action: String, arguments: [String] = []) throws -> [String] {
        let output = try run(TestDirectory.repository.appendingPathComponent("scripts/ldap-test-server").path,
                             [action, directory.path] + arguments)
        return Array(output.split(separator: "\n").suffix(3).map(String.init))
    }

    func stop() throws { try script("stop") }
    func start() throws { url = try script("start").first ?? "" }

    var pid: Int32 {
        get throws {
            let text = try String(contentsOf: directory.appendingPathComponent("slapd.pid"), encoding: .utf8)
            return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
    }

    /// Runs an ldap-utils command as the rootdn, with `ldif` on its standard input.
    func asRoot(_ tool: String, _ arguments: [String], input: String = "") throws {
        let password = directory.appendingPathComponent("admin-password").path
        try run("/usr/bin/" + tool, ["-x", "-H", url, "-D", "cn=admin,dc=example,dc=com", "-y", password] + arguments,
                input: input)
    }
}

/// Loopback ports nothing listens on now (held open together, so they differ).
func freeLoopbackPorts(_ count: Int) throws -> [Int] {
    var sockets: [Int32] = []
    defer { sockets.forEach { close($0) } }
    var ports: [Int] = []
    for _ in 0..<count {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CommandFailed(description: "socket() failed") }
        sockets.append(fd)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else { throw CommandFailed(description: "bind() failed") }
        ports.append(Int(UInt16(bigEndian: address.sin_port)))
    }
    return ports
}

struct CommandFailed: Error, CustomStringConvertible {
    var description: String
}

/// Runs a program to completion; throws unless it exits 0. Returns its standard output.
@discardableResult
func run(_ executable: String, _ arguments: [String], input: String = "") throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["LDAPNOINIT"] = "1"
    process.environment = environment
    let output = Pipe()
    let errors = Pipe()
    let stdin = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = stdin
    try process.run()
    stdin.fileHandleForWriting.write(Data(input.utf8))
    try stdin.fileHandleForWriting.close()
    let outData = output.fileHandleForReading.readDataToEndOfFile()
    let errData = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CommandFailed(description: "\(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): "
            + String(decoding: errData, as: UTF8.self))
    }
    return String(decoding: outData, as: UTF8.self)
}

func outcome(_ body: () async throws(DirectoryError) -> DirectoryUser?) async -> Result<DirectoryUser?, DirectoryError> {
    do {
        return .success(try await body())
    } catch {
        return .failure(error)
    }
}

@Suite("The LDAP suites ran")
struct LDAPConfiguredTests {
    /// scripts/test sets LINKGATE_REQUIRE_LDAP: there, the directory suites must run, never be
    /// skipped for want of a server.
    @Test("when required, LINKGATE_TEST_LDAP names a running directory")
    func configured() throws {
        if TestDirectory.environment["LINKGATE_REQUIRE_LDAP"] == "1" {
            #expect(TestDirectory.url != nil, "LINKGATE_REQUIRE_LDAP=1 but LINKGATE_TEST_LDAP is not set")
            #expect(FileManager.default.isExecutableFile(atPath: "/usr/sbin/slapd"), "slapd is not installed")
            #expect(FileManager.default.isExecutableFile(atPath: "/usr/bin/ldapadd"), "ldap-utils is not installed")
        }
    }
}

@Suite("LDAP directory against the test slapd (INTERFACE §13)", .enabled(if: TestDirectory.url != nil, "LINKGATE_TEST_LDAP is not set"))
struct LDAPDirectoryTests {
    let directory: LDAPDirectory

    init() throws {
        directory = try LDAPDirectory(configuration: TestDirectory.configuration())
    }

    @Test("the right password: the user with display name, e-mail, DN and admin flag")
    func goodPassword() async throws {
        let alice = try await directory.authenticate(name: "alice", password: "alice-secret")
        #expect(alice == DirectoryUser(name: "alice", dn: "uid=alice,ou=people,dc=example,dc=com",
                                       displayName: "Alice Liddell", email: "alice@example.com", admin: true))
        let bob = try await directory.authenticate(name: "bob", password: "bob-secret")
        #expect(bob == DirectoryUser(name: "bob", dn: "uid=bob,ou=people,dc=example,dc=com",
                                     displayName: "Bob Builder", email: "bob@example.com", admin: false))
    }

    @Test("a wrong, empty or other user's password: nil")
    func wrongPassword() async throws {
        #expect(try await directory.authenticate(name: "alice", password: "wrong") == nil)
        #expect(try await directory.authenticate(name: "alice", password: "") == nil)
        #expect(try await directory.authenticate(name: "alice", password: "bob-secret") == nil)
        #expect(try await directory.authenticate(name: "alice", password: "alice-secret ") == nil)
    }

    @Test("no such entry: nil")
    func noEntry() async throws {
        #expect(try await directory.authenticate(name: "nobody", password: "whatever") == nil)
        #expect(try await directory.lookup(name: "nobody") == nil)
    }

    @Test("two entries matching one name: nil, even with the right password")
    func twoEntries() async throws {
        #expect(try await directory.authenticate(name: "twin", password: "twin-secret") == nil)
        #expect(try await directory.lookup(name: "twin") == nil)
    }

    @Test("injection attempts match nothing", arguments: [
        "*", "alice)(uid=*", "*)(|(uid=*", "alice*", "*alice", "al*ce", "alice)(|(objectClass=*)",
        "alice)(&", "\\2a", "alice\u{0}", "(uid=alice)",
    ])
    func injection(name: String) async throws {
        #expect(try await directory.authenticate(name: name, password: "alice-secret") == nil)
        #expect(try await directory.lookup(name: name) == nil)
    }

    @Test("a name with filter metacharacters and one outside ASCII are found, escaped")
    func specialNames() async throws {
        let special = try await directory.authenticate(name: "j*doe(ops)\\x", password: "special-secret")
        #expect(special?.dn == "cn=Special Person,ou=people,dc=example,dc=com")
        #expect(special?.displayName == "Special Person")
        #expect(try await directory.lookup(name: "j*doe(ops)\\x")?.email == "special@example.com")
        let zoe = try await directory.authenticate(name: "zoë", password: "zoe-secret")
        #expect(zoe?.displayName == "Zoë Yamada")
        #expect(zoe?.dn == "uid=zoë,ou=staff,dc=example,dc=com")
    }

    @Test("the bind uses the DN the directory returned, escaped comma and all")
    func returnedDN() async throws {
        let smith = try await directory.authenticate(name: "jsmith", password: "jsmith-secret")
        #expect(smith?.displayName == "Smith, John")
        #expect(smith?.email == nil)
        #expect(smith.map { DistinguishedName.equal($0.dn, "cn=Smith\\, John,ou=people,dc=example,dc=com") } == true)
        #expect(try await directory.authenticate(name: "jsmith", password: "wrong") == nil)
    }

    @Test("names match as the directory's matching rule says (uid ignores case)")
    func nameCase() async throws {
        let user = try await directory.lookup(name: "ALICE")
        #expect(user?.name == "ALICE")
        #expect(user?.dn == "uid=alice,ou=people,dc=example,dc=com")
    }

    @Test("lookup: the user as the directory describes them, without a password")
    func lookup() async throws {
        #expect(try await directory.lookup(name: "alice") == DirectoryUser(
            name: "alice", dn: "uid=alice,ou=people,dc=example,dc=com", displayName: "Alice Liddell",
            email: "alice@example.com", admin: true))
        #expect(try await directory.lookup(name: "carol")?.admin == false)
    }

    @Test("admin from the group: member (memberOf), uniqueMember, any DN spelling, or none configured")
    func admins() async throws {
        // groupOfNames: the memberof overlay sets alice's memberOf.
        #expect(try await directory.lookup(name: "alice")?.admin == true)
        #expect(try await directory.lookup(name: "bob")?.admin == false)
        // groupOfUniqueNames: no memberOf, the group entry itself is asked.
        let operators = try LDAPDirectory(configuration: TestDirectory.configuration(adminGroupDN: TestDirectory.operatorsGroup))
        #expect(try await operators.authenticate(name: "carol", password: "carol-secret")?.admin == true)
        #expect(try await operators.lookup(name: "alice")?.admin == false)
        // The group named with other case and spacing.
        let spelled = try LDAPDirectory(configuration: TestDirectory.configuration(
            adminGroupDN: "CN=Linkgate-Admins, OU=Groups, DC=Example, DC=com"))
        #expect(try await spelled.lookup(name: "alice")?.admin == true)
        #expect(try await spelled.lookup(name: "carol")?.admin == false)
        // A group that does not exist, and no group at all.
        let missing = try LDAPDirectory(configuration: TestDirectory.configuration(adminGroupDN: "cn=nope,ou=groups,dc=example,dc=com"))
        #expect(try await missing.lookup(name: "alice")?.admin == false)
        let none = try LDAPDirectory(configuration: TestDirectory.configuration(adminGroupDN: nil))
        #expect(try await none.authenticate(name: "alice", password: "alice-secret")?.admin == false)
        for other in [operators, spelled, missing, none] { await other.shutdown() }
    }

    @Test("a wrong service password or base DN: unavailable, not 'no such user'")
    func misconfigured() async throws {
        var wrongPassword = TestDirectory.configuration()
        wrongPassword.bindPassword = "not-the-password"
        let refused = try LDAPDirectory(configuration: wrongPassword)
        await #expect(throws: DirectoryError.self) { _ = try await refused.lookup(name: "alice") }
        await #expect(throws: DirectoryError.self) { _ = try await refused.authenticate(name: "alice", password: "alice-secret") }
        var wrongBase = TestDirectory.configuration()
        wrongBase.baseDN = "dc=nowhere,dc=com"
        let based = try LDAPDirectory(configuration: wrongBase)
        await #expect(throws: DirectoryError.self) { _ = try await based.lookup(name: "alice") }
        await refused.shutdown()
        await based.shutdown()
    }

    @Test("many checks at once share the pool and the kept connections")
    func concurrent() async throws {
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<40 {
                group.addTask {
                    switch index % 4 {
                    case 0: try await directory.authenticate(name: "alice", password: "alice-secret")?.admin == true
                    case 1: try await directory.authenticate(name: "bob", password: "wrong") == nil
                    case 2: try await directory.lookup(name: "carol")?.email == "carol@example.com"
                    default: try await directory.lookup(name: "twin") == nil
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.count == 40)
        #expect(results.allSatisfy { $0 })
    }
}

@Suite("LDAP directory changing and failing (own slapd each)", .enabled(if: TestDirectory.url != nil, "LINKGATE_TEST_LDAP is not set"))
struct LDAPDirectoryLifecycleTests {
    @Test("an entry deleted in the directory is gone at the next lookup")
    func deletion() async throws {
        let slapd = try PrivateSlapd()
        defer { slapd.remove() }
        let directory = try LDAPDirectory(configuration: TestDirectory.configuration(url: slapd.url))
        try slapd.asRoot("ldapadd", [], input: """
            dn: uid=leaver,ou=people,dc=example,dc=com
            objectClass: inetOrgPerson
            uid: leaver
            cn: Lee Leaver
            sn: Leaver
            userPassword: leaver-secret

            """)
        #expect(try await directory.lookup(name: "leaver")?.displayName == "Lee Leaver")
        #expect(try await directory.authenticate(name: "leaver", password: "leaver-secret") != nil)
        try slapd.asRoot("ldapdelete", ["uid=leaver,ou=people,dc=example,dc=com"])
        #expect(try await directory.lookup(name: "leaver") == nil)
        #expect(try await directory.authenticate(name: "leaver", password: "leaver-secret") == nil)
        await directory.shutdown()
    }

    @Test("admin rights follow the group: removed from it, no longer admin")
    func groupChange() async throws {
        let slapd = try PrivateSlapd()
        defer { slapd.remove() }
        let directory = try LDAPDirectory(configuration: TestDirectory.configuration(url: slapd.url))
        #expect(try await directory.lookup(name: "alice")?.admin == true)
        try slapd.asRoot("ldapmodify", [], input: """
            dn: cn=linkgate-admins,ou=groups,dc=example,dc=com
            changetype: modify
            add: member
            member: uid=bob,ou=people,dc=example,dc=com
            -
            delete: member
            member: uid=alice,ou=people,dc=example,dc=com

            """)
        #expect(try await directory.lookup(name: "alice")?.admin == false)
        #expect(try await directory.lookup(name: "bob")?.admin == true)
        await directory.shutdown()
    }

    @Test("stopped: unavailable within the timeout; started again: works again by itself")
    func stoppedAndRestarted() async throws {
        let slapd = try PrivateSlapd()
        defer { slapd.remove() }
        let directory = try LDAPDirectory(configuration: TestDirectory.configuration(url: slapd.url))
        // A kept service connection exists before the stop.
        #expect(try await directory.authenticate(name: "alice", password: "alice-secret") != nil)
        try slapd.stop()
        for attempt in 0..<2 {
            let started = ContinuousClock.now
            await #expect(throws: DirectoryError.self) { _ = try await directory.authenticate(name: "alice", password: "alice-secret") }
            await #expect(throws: DirectoryError.self) { _ = try await directory.lookup(name: "alice") }
            let elapsed = ContinuousClock.now - started
            print("LDAP stopped, attempt \(attempt): two calls answered unavailable in \(elapsed)")
            // Refused at once (nothing listens); the margin is for a busy test machine.
            #expect(elapsed < .seconds(10))
        }
        try slapd.start()
        #expect(try await directory.authenticate(name: "alice", password: "alice-secret")?.admin == true)
        #expect(try await directory.lookup(name: "bob") != nil)
        await directory.shutdown()
    }

    @Test("StartTLS: with the directory's CA the checks work; against the system store, unavailable")
    func startTLS() async throws {
        let slapd = try PrivateSlapd()
        defer { slapd.remove() }
        var trusted = TestDirectory.configuration(url: slapd.url)
        trusted.startTLS = true
        trusted.caFile = slapd.caFile
        let secured = try LDAPDirectory(configuration: trusted)
        #expect(try await secured.authenticate(name: "alice", password: "alice-secret")?.admin == true)
        #expect(try await secured.authenticate(name: "alice", password: "wrong") == nil)
        #expect(try await secured.lookup(name: "carol")?.displayName == "Carol Danvers")
        // The test CA is in no system store: the certificate must not be accepted.
        var untrusted = trusted
        untrusted.caFile = nil
        let refusing = try LDAPDirectory(configuration: untrusted)
        let error = await #expect(throws: DirectoryError.self) {
            _ = try await refusing.authenticate(name: "alice", password: "alice-secret")
        }
        #expect(error?.description.contains("StartTLS") == true, "\(String(describing: error))")
        await #expect(throws: DirectoryError.self) { _ = try await refusing.lookup(name: "alice") }
        await secured.shutdown()
        await refusing.shutdown()
    }

    @Test("ldaps://: with the directory's CA the checks work; without, or frozen mid-handshake: unavailable in time")
    func ldaps() async throws {
        let slapd = try PrivateSlapd(ldaps: true)
        defer { slapd.remove() }
        let url = try #require(slapd.ldapsURL)
        var trusted = TestDirectory.configuration(url: url)
        trusted.caFile = slapd.caFile
        let secured = try LDAPDirectory(configuration: trusted)
        #expect(try await secured.authenticate(name: "alice", password: "alice-secret")?.admin == true)
        #expect(try await secured.authenticate(name: "bob", password: "wrong") == nil)
        var untrusted = trusted
        untrusted.caFile = nil
        let refusing = try LDAPDirectory(configuration: untrusted)
        await #expect(throws: DirectoryError.self) { _ = try await refusing.lookup(name: "alice") }
        await secured.shutdown()
        await refusing.shutdown()
        // Frozen: the TCP connection is accepted by the kernel, the TLS handshake never answered
        // (a new directory: no kept connection, every call starts with a handshake).
        let fresh = try LDAPDirectory(configuration: trusted)
        let pid = try slapd.pid
        #expect(kill(pid, SIGSTOP) == 0)
        defer { kill(pid, SIGCONT) }
        let started = ContinuousClock.now
        let error = await #expect(throws: DirectoryError.self) {
            _ = try await fresh.authenticate(name: "alice", password: "alice-secret")
        }
        let elapsed = ContinuousClock.now - started
        print("LDAP frozen over ldaps://: \(String(describing: error)) after \(elapsed)")
        // Ended by libldap's own timeout (5 s), or where it leaves the handshake unbounded by the
        // watchdog (the operation timeout and a second): both seen, on machines of one kind. Never
        // at once, never a hang; the margin is for a busy machine.
        #expect(elapsed >= .seconds(4.5))
        #expect(elapsed < .seconds(10))
        kill(pid, SIGCONT)
        #expect(try await fresh.lookup(name: "alice") != nil)
        await fresh.shutdown()
    }

    @Test("frozen (accepts connections, never answers): unavailable after the operation timeout, never a hang")
    func frozen() async throws {
        let slapd = try PrivateSlapd()
        defer { slapd.remove() }
        let directory = try LDAPDirectory(configuration: TestDirectory.configuration(url: slapd.url))
        #expect(try await directory.lookup(name: "alice") != nil)
        let pid = try slapd.pid
        #expect(kill(pid, SIGSTOP) == 0)
        defer { kill(pid, SIGCONT) }
        let started = ContinuousClock.now
        async let check = outcome { () async throws(DirectoryError) -> DirectoryUser? in
            defer { print("LDAP frozen: authenticate answered after \(ContinuousClock.now - started)") }
            return try await directory.authenticate(name: "alice", password: "alice-secret")
        }
        async let lookup = outcome { () async throws(DirectoryError) -> DirectoryUser? in
            defer { print("LDAP frozen: lookup answered after \(ContinuousClock.now - started)") }
            return try await directory.lookup(name: "bob")
        }
        let (checked, looked) = await (check, lookup)
        let elapsed = ContinuousClock.now - started
        print("LDAP frozen: authenticate and lookup answered \(checked) / \(looked) in \(elapsed)")
        #expect(throws: DirectoryError.self) { try checked.get() }
        #expect(throws: DirectoryError.self) { try looked.get() }
        // The default 5 s operation timeout, with a margin for a busy test machine.
        #expect(elapsed >= .seconds(4.5))
        #expect(elapsed < .seconds(10))
        kill(pid, SIGCONT)
        let resumed = ContinuousClock.now
        #expect(try await directory.lookup(name: "alice")?.admin == true)
        print("LDAP frozen: recovered in \(ContinuousClock.now - resumed)")
        await directory.shutdown()
    }
}
