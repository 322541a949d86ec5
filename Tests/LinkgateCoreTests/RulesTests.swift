import Testing
@testable import LinkgateCore

@Suite("Input rules")
struct RulesTests {
    @Test("scopes are ordered and each implies those below it (INTERFACE §4)")
    func scopes() throws {
        #expect(Scope.read < .write && Scope.write < .admin && Scope.admin < .systemAdmin)
        #expect(Scope.systemAdmin.includes(.read))
        #expect(Scope.write.includes(.write))
        #expect(!Scope.write.includes(.admin))
        #expect(try Rules.scope("SYSTEM_ADMIN") == .systemAdmin)
        for bad in ["read", "READ WRITE", "", " READ", "ROOT"] {
            #expect(throws: ValidationError.self) { try Rules.scope(bad) }
        }
    }

    @Test("user names", arguments: [
        ("alice", true), ("a", true), ("Alice.Smith-2", true), ("bob@example.com", true), ("x+y_z", true),
        ("", false), (".alice", false), ("-a", false), ("a b", false), ("a/b", false), ("<script>", false),
        ("x'); DROP TABLE users;--", false), ("ünïcode", false), (String(repeating: "a", count: 65), false),
        (String(repeating: "a", count: 64), true),
    ])
    func userNames(name: String, valid: Bool) {
        if valid {
            #expect((try? Rules.userName(name)) == name)
        } else {
            #expect(throws: ValidationError.self) { try Rules.userName(name) }
        }
    }

    @Test("passwords need 8 to 1024 bytes")
    func passwords() {
        #expect((try? Rules.password("12345678")) != nil)
        #expect(throws: ValidationError.self) { try Rules.password("1234567") }
        #expect(throws: ValidationError.self) { try Rules.password(String(repeating: "x", count: 1025)) }
    }

    @Test("labels are trimmed, non-empty, short and free of control characters; markup is kept")
    func labels() throws {
        #expect(try Rules.label("  Jira  ", field: "name") == "Jira")
        #expect(try Rules.label("<b>Jira</b> & Co", field: "name") == "<b>Jira</b> & Co")
        for bad in ["", "   ", "a\u{0}b", "line\nbreak", String(repeating: "x", count: 256)] {
            #expect(throws: ValidationError.self) { try Rules.label(bad, field: "name") }
        }
    }

    @Test("e-mail addresses", arguments: [
        ("alice@example.com", true), ("a.b+c@sub.example.org", true), ("alice", false), ("@example.com", false),
        ("alice@", false), ("alice@example", false), ("a@b@c.com", false), ("alice @example.com", false),
        ("<a>@example.com", false), ("alice@.example.com", false),
    ])
    func emails(text: String, valid: Bool) {
        if valid {
            #expect((try? Rules.email(text)) == text)
        } else {
            #expect(throws: ValidationError.self) { try Rules.email(text) }
        }
    }

    @Test("only local paths are honoured as login 'next'", arguments: [
        ("/", true), ("/rest/oauth2/latest/authorize?client_id=x&state=y", true), ("/profile/applications", true),
        ("", false), ("//evil.example", false), ("/\\evil.example", false), ("https://evil.example", false),
        ("evil", false), ("/a b", false), ("/a\nb", false), ("/a\\b", false), ("javascript:alert(1)", false),
    ])
    func localPaths(next: String, local: Bool) {
        #expect(Rules.isLocalPath(next) == local)
    }
}

@Suite("application/x-www-form-urlencoded")
struct FormURLEncodedTests {
    @Test("decodes + and %XX, keeps order and repeats")
    func parse() throws {
        let pairs = try FormURLEncoded.parse("a=1&b=x+y&c=%2B%26%3D&a=2&empty=&flag&%C3%A9=%E2%9C%93")
        #expect(pairs.map(\.name) == ["a", "b", "c", "a", "empty", "flag", "é"])
        #expect(pairs.map(\.value) == ["1", "x y", "+&=", "2", "", "", "✓"])
        #expect(try FormURLEncoded.parse("").isEmpty)
    }

    @Test("refuses broken escapes and invalid UTF-8", arguments: ["a=%", "a=%4", "a=%zz", "a=%FF", "%C3=1"])
    func malformed(text: String) {
        #expect(throws: FormURLEncoded.MalformedError.self) { try FormURLEncoded.parse(text) }
    }

    @Test("a body's raw bytes must be UTF-8: refused, not repaired")
    func rawBytes() throws {
        #expect(try FormURLEncoded.parse(bytes: Array("t=%C3%A9&u=\u{E9}".utf8)).map(\.value) == ["é", "é"])
        #expect(throws: FormURLEncoded.MalformedError.self) { try FormURLEncoded.parse(bytes: [0x74, 0x3D, 0xFF]) }
        #expect(throws: FormURLEncoded.MalformedError.self) { try FormURLEncoded.parse(bytes: [0xC3, 0x3D, 0x31]) }
    }

    @Test("encodes all but unreserved characters; unreserved text passes unchanged")
    func encode() {
        #expect(FormURLEncoded.encode("a b+c/é~") == "a%20b%2Bc%2F%C3%A9~")
        #expect(FormURLEncoded.encode("AZaz09-._~") == "AZaz09-._~")
    }
}
