import Dispatch
import LinkgateCore
import NIOPosix
import Synchronization

/// The LDAP directory as a `UserDirectory` (INTERFACE §13).
///
/// - A name is found by a subtree search under `baseDN` with `userFilter`, the name escaped per
///   RFC 4515, as the service account; one entry must match (none or several: `nil`).
/// - A password is checked by a simple bind as the DN that search returned, on a short-lived
///   connection of its own; an empty password never reaches the directory.
/// - Admins: the entry's `memberOf` holds `adminGroupDN`, or the group entry has the user's DN
///   as `member` or `uniqueMember` (asked of the directory, so its DN matching rules apply).
/// - Every libldap call runs on this directory's own small thread pool (`threadCount` threads),
///   never on an event loop. Connect and operation timeouts
///   bound each call; a job that waited longer than the operation timeout for a thread, or finds
///   too many jobs ahead of it, fails as `.unavailable` at once.
/// - Service-account connections are kept (one per pool thread at most) and reused; one that
///   fails is closed, and a reused one the server had closed is replaced once within the call.
public final class LDAPDirectory: UserDirectory {
    public let configuration: LDAPConfiguration
    public var kind: String { "ldap" }
    public var location: String { "\(configuration.url), base \(configuration.baseDN)" }

    /// Longest login name searched for (the `uid` attribute's upper bound in RFC 4519).
    static let maximumNameLength = 256

    /// Threads for blocking LDAP calls, per directory.
    public static let threadCount = 4

    private let pool: NIOThreadPool
    private let maximumQueued = 64 * LDAPDirectory.threadCount
    private let idle = Mutex<[LDAPConnection]>([])
    private let queued = Atomic<Int>(0)

    /// Throws `LDAPConfiguration.Invalid` for a configuration that cannot work. Does not contact
    /// the directory.
    public init(configuration: LDAPConfiguration) throws(LDAPConfiguration.Invalid) {
        try configuration.validate()
        self.configuration = configuration
        pool = NIOThreadPool(numberOfThreads: Self.threadCount)
        pool.start()
    }

    deinit {
        // Running jobs hold the directory: none is left. The kept connections close as they go.
        pool.shutdownGracefully { _ in }
    }

    /// Closes the kept service-account connections and stops the threads; later calls answer
    /// `.unavailable`.
    public func shutdown() async {
        let connections = idle.withLock { list in
            defer { list.removeAll() }
            return list
        }
        // An unbind writes to the socket: off the caller's thread like every libldap call.
        _ = try? await pool.runIfActive { connections.forEach { $0.close() } }
        try? await pool.shutdownGracefully()
    }

    public func authenticate(name: String, password: String) async throws(DirectoryError) -> DirectoryUser? {
        // RFC 4513 §5.1.2: a simple bind with a DN and an empty password is an "unauthenticated
        // bind" that succeeds without checking anything. Refused here, before any thread or bind.
        guard !password.isEmpty, Self.isSearchable(name) else { return nil }
        return try await run { [self] () throws(DirectoryError) -> DirectoryUser? in
            guard let entry = try findUser(name) else { return nil }
            guard try checkPassword(dn: entry.dn, password: password) else { return nil }
            return try user(name: name, entry: entry)
        }
    }

    public func lookup(name: String) async throws(DirectoryError) -> DirectoryUser? {
        guard Self.isSearchable(name) else { return nil }
        return try await run { [self] () throws(DirectoryError) -> DirectoryUser? in
            guard let entry = try findUser(name) else { return nil }
            return try user(name: name, entry: entry)
        }
    }

    // MARK: Mapping (pure, unit-tested)

    /// A name worth searching for: not empty, not longer than `maximumNameLength` bytes.
    static func isSearchable(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= maximumNameLength
    }

    /// The attributes a user search asks for.
    static func userAttributes(_ configuration: LDAPConfiguration) -> [String] {
        var attributes = [configuration.displayNameAttribute, configuration.emailAttribute]
        if configuration.adminGroupDN != nil { attributes.append("memberOf") }
        return attributes
    }

    /// The filter that finds `name`'s entry.
    static func userFilter(_ configuration: LDAPConfiguration, name: String) -> String {
        LDAPFilter.substitute(configuration.userFilter, name: name)
    }

    /// The filter, applied to the admin group's entry, that holds when `userDN` is a member.
    static func groupMemberFilter(userDN: String) -> String {
        let value = LDAPFilter.escape(userDN)
        return "(|(member=\(value))(uniqueMember=\(value)))"
    }

    /// Whether the entry's `memberOf` names the group (DNs compared case-insensitively, modulo
    /// spacing and escaping).
    static func memberOfNames(_ entry: LDAPEntry, group: String) -> Bool {
        let wanted = DistinguishedName.normalized(group)
        return entry.values("memberOf").contains { DistinguishedName.normalized($0) == wanted }
    }

    /// The directory user for an entry found under `name`.
    static func directoryUser(name: String, entry: LDAPEntry, configuration: LDAPConfiguration, admin: Bool) -> DirectoryUser {
        DirectoryUser(
            name: name,
            dn: entry.dn,
            displayName: entry.firstValue(configuration.displayNameAttribute) ?? name,
            email: entry.firstValue(configuration.emailAttribute),
            admin: admin
        )
    }

    // MARK: Directory operations (on the pool's threads)

    /// The one entry matching `name`, or nil when none or several do.
    private func findUser(_ name: String) throws(DirectoryError) -> LDAPEntry? {
        let filter = Self.userFilter(configuration, name: name)
        let attributes = Self.userAttributes(configuration)
        let found = try withServiceConnection { connection throws(LDAPFailure) in
            // Two are enough to know the name is ambiguous.
            try connection.search(base: configuration.baseDN, subtree: true, filter: filter, attributes: attributes,
                                  sizeLimit: 2, timeout: configuration.operationTimeout)
        }
        if found.noSuchBase {
            throw .unavailable("\(configuration.url): the base DN \(configuration.baseDN) does not exist")
        }
        guard found.entries.count == 1, !found.sizeLimitExceeded, !found.entries[0].dn.isEmpty else { return nil }
        return found.entries[0]
    }

    /// Binds as `dn` on a connection of its own: true when the directory accepts the password.
    private func checkPassword(dn: String, password: String) throws(DirectoryError) -> Bool {
        let connection: LDAPConnection
        do throws(LDAPFailure) {
            connection = try LDAPConnection(configuration)
        } catch {
            throw unavailable(error)
        }
        defer { connection.close() }
        let code = connection.bind(dn: dn, password: password)
        if code == 0 { return true }
        if LDAPFailure.isRefusedBind(code) { return false }
        throw unavailable(LDAPFailure(code: code, operation: "bind", diagnostic: ""))
    }

    private func user(name: String, entry: LDAPEntry) throws(DirectoryError) -> DirectoryUser {
        Self.directoryUser(name: name, entry: entry, configuration: configuration, admin: try isAdmin(entry))
    }

    private func isAdmin(_ entry: LDAPEntry) throws(DirectoryError) -> Bool {
        guard let group = configuration.adminGroupDN else { return false }
        if Self.memberOfNames(entry, group: group) { return true }
        let filter = Self.groupMemberFilter(userDN: entry.dn)
        let found = try withServiceConnection { connection throws(LDAPFailure) in
            // "1.1": no attributes, only whether the group entry matches (RFC 4511 §4.5.1.8).
            try connection.search(base: group, subtree: false, filter: filter, attributes: ["1.1"], sizeLimit: 1,
                                  timeout: configuration.operationTimeout)
        }
        return !found.entries.isEmpty
    }

    /// Runs `body` on a service-account connection: a kept one, else a new one bound as the
    /// service account. A kept connection the server has closed is replaced once.
    private func withServiceConnection<T>(_ body: (LDAPConnection) throws(LDAPFailure) -> T) throws(DirectoryError) -> T {
        var connection = idle.withLock { $0.popLast() }
        let reused = connection != nil
        for attempt in 0..<2 {
            do throws(LDAPFailure) {
                let current: LDAPConnection
                if let connection {
                    current = connection
                } else {
                    current = try openServiceConnection()
                    connection = current
                }
                let result = try body(current)
                keep(current)
                return result
            } catch {
                connection?.close()
                connection = nil
                if attempt == 0, reused, error.isConnectionLost { continue }
                throw unavailable(error)
            }
        }
        throw .unavailable("unreachable")
    }

    private func openServiceConnection() throws(LDAPFailure) -> LDAPConnection {
        let connection = try LDAPConnection(configuration)
        if let bindDN = configuration.bindDN, !bindDN.isEmpty {
            do throws(LDAPFailure) {
                try connection.bindOrThrow(dn: bindDN, password: configuration.bindPassword)
            } catch {
                connection.close()
                throw LDAPFailure(code: error.code, operation: "service account bind", diagnostic: error.diagnostic)
            }
        }
        return connection
    }

    private func keep(_ connection: LDAPConnection) {
        let extra = idle.withLock { list -> LDAPConnection? in
            guard list.count < Self.threadCount else { return connection }
            list.append(connection)
            return nil
        }
        extra?.close()
    }

    private func unavailable(_ failure: LDAPFailure) -> DirectoryError {
        .unavailable("\(configuration.url): \(failure)")
    }

    /// Runs `body` on the pool. Refused at once when too many jobs are waiting; a job that
    /// waited longer than the operation timeout for a thread is not run (the caller has waited
    /// long enough, and the directory is probably not answering).
    private func run<T: Sendable>(_ body: @escaping @Sendable () throws(DirectoryError) -> T) async throws(DirectoryError) -> T {
        guard queued.wrappingAdd(1, ordering: .relaxed).newValue <= maximumQueued else {
            queued.wrappingSubtract(1, ordering: .relaxed)
            throw .unavailable("\(configuration.url): too many directory requests waiting")
        }
        let submitted = ContinuousClock.now
        let patience = configuration.operationTimeout
        let url = configuration.url
        do {
            return try await pool.runIfActive { [self] () throws -> T in
                queued.wrappingSubtract(1, ordering: .relaxed)
                guard ContinuousClock.now - submitted <= patience else {
                    throw DirectoryError.unavailable("\(url): no directory thread free within the timeout")
                }
                return try body()
            }
        } catch let error as DirectoryError {
            throw error
        } catch {
            // Cancelled before it ran, or the pool is shut down: the job never decremented.
            queued.wrappingSubtract(1, ordering: .relaxed)
            throw .unavailable("\(url): \(error is CancellationError ? "cancelled" : "directory client stopped")")
        }
    }
}
