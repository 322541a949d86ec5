import LinkgateCore
@testable import LinkgateLDAP
import Testing

@Suite("LDAP entries to directory users")
struct LDAPMappingTests {
    let configuration = LDAPConfiguration(url: "ldap://127.0.0.1:1", baseDN: "dc=example,dc=com",
                                          adminGroupDN: "cn=linkgate-admins,ou=groups,dc=example,dc=com")

    @Test("display name and e-mail come from the configured attributes, first value")
    func attributes() {
        let entry = LDAPEntry(dn: "uid=alice,ou=people,dc=example,dc=com",
                              attributes: ["cn": ["Alice Liddell", "Alice"], "mail": ["alice@example.com", "a@example.com"]])
        let user = LDAPDirectory.directoryUser(name: "alice", entry: entry, configuration: configuration, admin: true)
        #expect(user == DirectoryUser(name: "alice", dn: "uid=alice,ou=people,dc=example,dc=com",
                                      displayName: "Alice Liddell", email: "alice@example.com", admin: true))
    }

    @Test("attribute names match case-insensitively")
    func attributeCase() {
        var configuration = configuration
        configuration.displayNameAttribute = "displayName"
        configuration.emailAttribute = "MAIL"
        let entry = LDAPEntry(dn: "uid=bob,dc=example,dc=com", attributes: ["DISPLAYNAME": ["Bob"], "mail": ["bob@example.com"]])
        let user = LDAPDirectory.directoryUser(name: "bob", entry: entry, configuration: configuration, admin: false)
        #expect(user.displayName == "Bob")
        #expect(user.email == "bob@example.com")
        #expect(!user.admin)
    }

    @Test("a missing or blank display name falls back to the login name; a blank e-mail is none")
    func fallbacks() {
        let missing = LDAPEntry(dn: "uid=x,dc=example,dc=com", attributes: [:])
        let blank = LDAPEntry(dn: "uid=x,dc=example,dc=com", attributes: ["cn": ["  "], "mail": ["", " "]])
        for entry in [missing, blank] {
            let user = LDAPDirectory.directoryUser(name: "x", entry: entry, configuration: configuration, admin: false)
            #expect(user.displayName == "x")
            #expect(user.email == nil)
        }
        let padded = LDAPEntry(dn: "uid=x,dc=example,dc=com", attributes: ["cn": [" ", " Padded Name "]])
        #expect(LDAPDirectory.directoryUser(name: "x", entry: padded, configuration: configuration, admin: false)
            .displayName == "Padded Name")
    }

    @Test("memberOf names the admin group, in any case and spacing")
    func memberOf() {
        let member = LDAPEntry(dn: "uid=alice,dc=example,dc=com", attributes: [
            "memberOf": ["cn=other,ou=groups,dc=example,dc=com", "CN=Linkgate-Admins, OU=groups, DC=example, DC=com"],
        ])
        let other = LDAPEntry(dn: "uid=bob,dc=example,dc=com", attributes: ["memberof": ["cn=linkgate-admins-2,ou=groups,dc=example,dc=com"]])
        let none = LDAPEntry(dn: "uid=carol,dc=example,dc=com", attributes: [:])
        let group = configuration.adminGroupDN!
        #expect(LDAPDirectory.memberOfNames(member, group: group))
        #expect(!LDAPDirectory.memberOfNames(other, group: group))
        #expect(!LDAPDirectory.memberOfNames(none, group: group))
    }

    @Test("the group check's filter escapes the user's DN")
    func groupFilter() {
        #expect(LDAPDirectory.groupMemberFilter(userDN: "uid=alice,dc=example,dc=com")
            == "(|(member=uid=alice,dc=example,dc=com)(uniqueMember=uid=alice,dc=example,dc=com))")
        #expect(LDAPDirectory.groupMemberFilter(userDN: "cn=a(b)*\\,dc=x")
            == "(|(member=cn=a\\28b\\29\\2a\\5c,dc=x)(uniqueMember=cn=a\\28b\\29\\2a\\5c,dc=x))")
    }

    @Test("a user search asks for the mapped attributes, and memberOf only with an admin group")
    func searchAttributes() {
        #expect(LDAPDirectory.userAttributes(configuration) == ["cn", "mail", "memberOf"])
        var noGroup = configuration
        noGroup.adminGroupDN = nil
        #expect(LDAPDirectory.userAttributes(noGroup) == ["cn", "mail"])
        #expect(LDAPDirectory.userFilter(configuration, name: "a*b") == "(uid=a\\2ab)")
    }

    @Test("empty and overlong names are never searched")
    func searchable() {
        #expect(LDAPDirectory.isSearchable("alice"))
        #expect(!LDAPDirectory.isSearchable(""))
        #expect(LDAPDirectory.isSearchable(String(repeating: "a", count: 256)))
        #expect(!LDAPDirectory.isSearchable(String(repeating: "a", count: 257)))
    }
}

@Suite("LDAP configuration checks")
struct LDAPConfigurationTests {
    func invalid(_ change: (inout LDAPConfiguration) -> Void) -> String? {
        var configuration = LDAPConfiguration(url: "ldap://ldap.example.com:389", bindDN: "cn=svc,dc=example,dc=com",
                                              bindPassword: "secret", baseDN: "dc=example,dc=com")
        change(&configuration)
        do {
            try configuration.validate()
            return nil
        } catch {
            return error.message
        }
    }

    @Test("a standard configuration is valid")
    func valid() {
        #expect(invalid { _ in } == nil)
        #expect(invalid { $0.url = "ldaps://ldap.example.com" } == nil)
        #expect(invalid { $0.startTLS = true; $0.caFile = "/etc/ssl/ca.pem" } == nil)
        #expect(invalid { $0.bindDN = nil; $0.bindPassword = "" } == nil)
        #expect(invalid { $0.userFilter = "(&(objectClass=inetOrgPerson)(|(uid={0})(mail={0})))" } == nil)
    }

    @Test("what cannot work is refused, naming the option")
    func refused() {
        #expect(invalid { $0.url = "http://ldap.example.com" }?.contains("--ldap-url") == true)
        #expect(invalid { $0.url = "ldap://" }?.contains("--ldap-url") == true)
        #expect(invalid { $0.url = "ldap://host/dc=x??sub" }?.contains("--ldap-url") == true)
        #expect(invalid { $0.url = "ldaps://host"; $0.startTLS = true }?.contains("--ldap-starttls") == true)
        #expect(invalid { $0.bindPassword = "" }?.contains("LINKGATE_LDAP_BIND_PASSWORD") == true)
        #expect(invalid { $0.baseDN = " " }?.contains("--ldap-base-dn") == true)
        #expect(invalid { $0.userFilter = "(uid=alice)" }?.contains("--ldap-user-filter") == true)
        #expect(invalid { $0.userFilter = "uid={0}" }?.contains("--ldap-user-filter") == true)
        #expect(invalid { $0.userFilter = "(uid={0}))(" }?.contains("--ldap-user-filter") == true)
        #expect(invalid { $0.displayNameAttribute = "c n" }?.contains("--ldap-attr-display-name") == true)
        #expect(invalid { $0.emailAttribute = "" }?.contains("--ldap-attr-email") == true)
        #expect(invalid { $0.adminGroupDN = "" }?.contains("--ldap-admin-group") == true)
        #expect(invalid { $0.operationTimeout = .zero } != nil)
    }
}

@Suite("LDAP directory without a server")
struct LDAPDirectoryOfflineTests {
    /// Port 1 on loopback: nothing listens, a connection is refused at once.
    func refusingDirectory() throws -> LDAPDirectory {
        try LDAPDirectory(configuration: LDAPConfiguration(
            url: "ldap://127.0.0.1:1", bindDN: "cn=svc,dc=example,dc=com", bindPassword: "secret", baseDN: "dc=example,dc=com"))
    }

    @Test("an empty password is refused before any contact with the directory")
    func emptyPassword() async throws {
        let directory = try refusingDirectory()
        // Were the directory contacted, the refused connection would throw `.unavailable`.
        #expect(try await directory.authenticate(name: "alice", password: "") == nil)
        #expect(try await directory.authenticate(name: "", password: "secret") == nil)
        #expect(try await directory.lookup(name: "") == nil)
        await directory.shutdown()
    }

    @Test("an unreachable directory is unavailable, not a missing user")
    func unreachable() async throws {
        let directory = try refusingDirectory()
        // (How fast: see the stopped and frozen directory tests of LDAPDirectoryLifecycleTests.)
        await #expect(throws: DirectoryError.self) { _ = try await directory.authenticate(name: "alice", password: "secret") }
        await #expect(throws: DirectoryError.self) { _ = try await directory.lookup(name: "alice") }
        await directory.shutdown()
    }

    @Test("libldap loads from the runtime library alone")
    func loads() {
        #expect(LDAPLibrary.isAvailable, "\(LDAPLibrary.loadError)")
    }
}
