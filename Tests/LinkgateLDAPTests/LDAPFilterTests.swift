import LinkgateCore
@testable import LinkgateLDAP
import Testing

@Suite("RFC 4515 filter escaping")
struct LDAPFilterTests {
    @Test("plain names pass unchanged")
    func plain() {
        #expect(LDAPFilter.escape("alice") == "alice")
        #expect(LDAPFilter.escape("first.last-2@example.com") == "first.last-2@example.com")
        #expect(LDAPFilter.escape("") == "")
    }

    @Test("the five special characters become \\XX", arguments: [
        ("*", "\\2a"), ("(", "\\28"), (")", "\\29"), ("\\", "\\5c"), ("\u{0}", "\\00"),
    ])
    func specials(input: String, escaped: String) {
        #expect(LDAPFilter.escape(input) == escaped)
    }

    @Test("every byte outside ASCII becomes \\XX")
    func nonASCII() {
        #expect(LDAPFilter.escape("zoë") == "zo\\c3\\ab")
        #expect(LDAPFilter.escape("日") == "\\e6\\97\\a5")
    }

    @Test("injection attempts stay one assertion value", arguments: [
        ("*", "(uid=\\2a)"),
        ("alice)(uid=*", "(uid=alice\\29\\28uid=\\2a)"),
        ("*)(|(uid=*", "(uid=\\2a\\29\\28|\\28uid=\\2a)"),
        ("alice)(|(objectClass=*)", "(uid=alice\\29\\28|\\28objectClass=\\2a\\29)"),
        ("\\2a", "(uid=\\5c2a)"),
    ])
    func injection(name: String, filter: String) {
        let substituted = LDAPFilter.substitute("(uid={0})", name: name)
        #expect(substituted == filter)
        // No unescaped parenthesis or wildcard got in: the filter is still one balanced item.
        #expect(LDAPFilter.parenthesesBalance(substituted))
        #expect(!substituted.dropFirst(5).dropLast().contains("*"))
    }

    @Test("every {0} is replaced, in one pass")
    func everyPlaceholder() {
        #expect(LDAPFilter.substitute("(|(uid={0})(mail={0}))", name: "a*") == "(|(uid=a\\2a)(mail=a\\2a))")
        #expect(LDAPFilter.substitute("(uid={0})", name: "{0}") == "(uid={0})")
        #expect(LDAPFilter.substitute("(objectClass=person)", name: "x") == "(objectClass=person)")
    }

    @Test("balanced filters")
    func balance() {
        #expect(LDAPFilter.parenthesesBalance("(uid={0})"))
        #expect(LDAPFilter.parenthesesBalance("(&(objectClass=person)(uid={0}))"))
        #expect(LDAPFilter.parenthesesBalance("(cn=a\\29b)"))
        #expect(!LDAPFilter.parenthesesBalance("(uid={0}))"))
        #expect(!LDAPFilter.parenthesesBalance("(uid={0})(cn=x)"))
        #expect(!LDAPFilter.parenthesesBalance("((uid={0})"))
    }

    @Test("attribute descriptions")
    func attributes() {
        #expect(LDAPFilter.isAttributeDescription("cn"))
        #expect(LDAPFilter.isAttributeDescription("displayName"))
        #expect(LDAPFilter.isAttributeDescription("x-custom-1"))
        #expect(LDAPFilter.isAttributeDescription("2.5.4.3"))
        #expect(LDAPFilter.isAttributeDescription("cn;lang-en"))
        #expect(!LDAPFilter.isAttributeDescription(""))
        #expect(!LDAPFilter.isAttributeDescription("c n"))
        #expect(!LDAPFilter.isAttributeDescription("1cn"))
        #expect(!LDAPFilter.isAttributeDescription("cn)(x"))
        #expect(!LDAPFilter.isAttributeDescription("cn;"))
    }
}

@Suite("Distinguished names compared without the directory")
struct DistinguishedNameTests {
    @Test("case, spaces around commas and '=', and escaping do not matter")
    func equalities() {
        #expect(DistinguishedName.equal("CN=Linkgate-Admins, OU=Groups,DC=Example, DC=com",
                                        "cn=linkgate-admins,ou=groups,dc=example,dc=com"))
        #expect(DistinguishedName.equal("cn = admins , ou=groups", "cn=admins,ou=groups"))
        #expect(DistinguishedName.equal("cn=Smith\\, John,ou=people", "cn=Smith\\2C John,ou=people"))
        #expect(DistinguishedName.equal("cn=Smith\\2c John,ou=people", "CN=smith\\, john,OU=People"))
        #expect(DistinguishedName.equal("cn=a+uid=b,dc=x", "uid=b+cn=a,dc=x"))
        #expect(DistinguishedName.equal("uid=zo\\C3\\AB,dc=x", "uid=ZOË,dc=x"))
    }

    @Test("different entries differ")
    func inequalities() {
        #expect(!DistinguishedName.equal("cn=a\\,b,dc=x", "cn=a,b,dc=x"))
        #expect(!DistinguishedName.equal("cn=admins,ou=groups", "cn=admins,ou=groups,dc=example"))
        #expect(!DistinguishedName.equal("cn=admins", "cn=admins2"))
        #expect(!DistinguishedName.equal("cn=a+uid=b", "cn=a,uid=b"))
        #expect(!DistinguishedName.equal("cn=a\\ ", "cn=a"))
    }
}
