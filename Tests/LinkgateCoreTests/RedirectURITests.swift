import Testing
@testable import LinkgateCore

@Suite("Redirect URI registration rules (INTERFACE §5)")
struct RedirectURITests {
    @Test("accepted", arguments: [
        "https://app.example/cb", "https://app.example:8443/oauth/callback?x=1&y=2", "HTTPS://App.Example/cb",
        "http://127.0.0.1:9000/cb", "http://localhost/cb", "http://LOCALHOST:3000/", "http://[::1]:8080/cb",
        "https://jira.example.com/plugins/servlet/oauth2/callback", "https://10.0.0.1/cb", "https://[2001:db8::1]/cb",
        "https://[::ffff:192.0.2.1]:8443/cb",
    ])
    func accepted(uri: String) throws {
        try RedirectURI.validate(uri)
    }

    @Test("refused", arguments: [
        "javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "file:///etc/passwd", "ftp://app.example/cb",
        "https://app.example/cb#", "https://app.example/cb#frag", "http://app.example/cb", "http://127.0.0.2/cb",
        "http://localhost.evil.example/cb", "/relative/cb", "app.example/cb", "https://", "https:///cb",
        "https://user:pw@app.example/cb", "https://app.example@evil.example/cb", "https://app .example/cb",
        "https://app.example/c b", "https://app.example/cb\n", "https://app.example:0/cb", "https://app.example:99999/cb",
        "https://app.example:/cb", "https://app.example:80a/cb", "https://[::1/cb", "https://app_example/cb",
        "https://app.example/<cb>", "https://app.example/\\cb", "custom.scheme:/cb", "", " https://app.example/cb",
        "https://éxample.com/cb",
        // IP literals must be IPv6 addresses (the redirect-uri fuzz target checks this too).
        "https://[:]/cb", "https://[1.2.3.4]/cb", "https://[::1::]/cb", "https://[12345::]/cb", "http://[::1%25lo]/cb",
        "https://[fe80::1:2:3:4:5:6:7]/cb",
    ])
    func refused(uri: String) {
        #expect(throws: ValidationError.self) { try RedirectURI.validate(uri) }
    }

    @Test("lists: empty is fine; duplicates, too many and too long are refused")
    func lists() throws {
        try RedirectURI.validate(list: [])
        try RedirectURI.validate(list: ["https://a.example/cb", "https://b.example/cb"])
        #expect(throws: ValidationError.self) { try RedirectURI.validate(list: ["https://a.example/cb", "https://a.example/cb"]) }
        #expect(throws: ValidationError.self) {
            try RedirectURI.validate(list: (0...RedirectURI.maximumCount).map { "https://a.example/\($0)" })
        }
        #expect(throws: ValidationError.self) {
            try RedirectURI.validate("https://a.example/" + String(repeating: "a", count: RedirectURI.maximumLength))
        }
    }

    @Test("the error names the field and says why")
    func message() {
        do {
            try RedirectURI.validate("http://evil.example/cb")
            Issue.record("accepted")
        } catch let error as ValidationError {
            #expect(error.field == "redirects")
            #expect(error.message.contains("loopback"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
