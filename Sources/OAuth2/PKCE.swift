import LinkgateCrypto

/// Proof Key for Code Exchange (RFC 7636).
public enum PKCE {
    public enum Method: String, Sendable {
        case s256 = "S256"
        case plain
    }

    /// `code_challenge` syntax: 43–128 unreserved characters (RFC 7636 §4.2; an S256 challenge is
    /// base64url by construction).
    public static func isWellFormedChallenge(_ value: String) -> Bool {
        let bytes = value.utf8
        return (43...128).contains(bytes.count) && bytes.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
        }
    }

    /// `code_verifier` syntax (INTERFACE §6): 43–128 visible ASCII characters (0x21–0x7E).
    /// RFC 7636 §4.1 asks clients for `[A-Za-z0-9-._~]`, but real clients (git-credential-oauth)
    /// send standard base64 with `+`, `/` and `=`; the security lies in the S256 comparison, so
    /// only the length and visible ASCII are enforced. Space and controls are refused.
    public static func isWellFormedVerifier(_ value: String) -> Bool {
        let bytes = value.utf8
        return (43...128).contains(bytes.count) && bytes.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// A well-formed `code_verifier` with its S256 transform, made before the store operation that
    /// spends the code: the check inside it (run by SQLite's serial writer) is then only a
    /// comparison, and the SHA-256 is done on the event loop that read the request.
    public struct Proof: Sendable {
        public let verifier: String
        let s256: String

        /// Nil unless `verifier` is well-formed.
        public init?(verifier: String) {
            guard PKCE.isWellFormedVerifier(verifier) else { return nil }
            self.verifier = verifier
            s256 = Base64URL.encode(Digest.sha256(verifier))
        }

        /// Whether this verifier answers `challenge` (RFC 7636 §4.6), compared in constant time.
        public func answers(_ challenge: String, method: Method) -> Bool {
            constantTimeEquals(method == .s256 ? s256 : verifier, challenge)
        }
    }

    /// Whether `verifier` answers `challenge` (RFC 7636 §4.6), compared in constant time.
    public static func verify(verifier: String, challenge: String, method: Method) -> Bool {
        Proof(verifier: verifier)?.answers(challenge, method: method) ?? false
    }
}
