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

    /// Whether `verifier` answers `challenge` (RFC 7636 §4.6), compared in constant time.
    public static func verify(verifier: String, challenge: String, method: Method) -> Bool {
        guard isWellFormedVerifier(verifier) else { return false }
        let derived = switch method {
        case .s256: Base64URL.encode(Digest.sha256(verifier))
        case .plain: verifier
        }
        return constantTimeEquals(derived, challenge)
    }
}
