import LinkgateCore
import Testing
@testable import LinkgateServer

@Suite("Authorization header: scheme and credential (RFC 7235 §2.1), byte-wise")
struct AuthorizationHeaderTests {
    @Test("the scheme is lowercased; spaces around either part are dropped", arguments: [
        ("Bearer abc.def", "bearer", "abc.def"),
        ("  BEARER   tok  ", "bearer", "tok"),
        ("Basic", "basic", ""),
        ("basic    ", "basic", ""),
        ("", "", ""),
        ("   ", "", ""),
        ("OAuth realm=\"x\", oauth_nonce=\"a b\"", "oauth", "realm=\"x\", oauth_nonce=\"a b\""),
        ("Bearer tok with spaces", "bearer", "tok with spaces"),
        ("Bëarer tök", "bëarer", "tök"),
    ])
    func split(header: String, scheme: String, credential: String) {
        let parts = Authenticator.split(header)
        #expect(parts.scheme == scheme)
        #expect(parts.credential == credential)
    }

    @Test("ASCII-only case folding for protocol tokens")
    func asciiCase() {
        #expect("Application/X-WWW-Form-Urlencoded; charset=UTF-8".hasASCIICaseInsensitivePrefix("application/x-www-form-urlencoded"))
        #expect(!"application/json".hasASCIICaseInsensitivePrefix("application/x-www-form-urlencoded"))
        #expect(!"application/x-www".hasASCIICaseInsensitivePrefix("application/x-www-form-urlencoded"))
        #expect("".hasASCIICaseInsensitivePrefix(""))
        #expect("MiXeD-Ä".asciiLowercased == "mixed-Ä")
        #expect("already".asciiLowercased == "already")
    }
}
