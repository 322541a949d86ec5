import LinkgateCrypto

/// Proof Key for Code Exchange (RFC 7636).
public enum PKCE {
    public enum Method: String, Sendable {
        case s256 = "S256"
        case plain
    }

    /// `code_challenge` and `code_verifier` share one syntax: 43–128 unreserved characters
    /// (RFC 7636 §4.1, §4.2).
    public static func isWellFormed(_ value: String) -> Bool {
        let bytes = value.utf8
        return (43...128).contains(bytes.count) && bytes.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
        }
    }

    /// Whether `verifier` answers `challenge` (RFC 7636 §4.6), compared in constant time.
    public static func verify(verifier: String, challenge: String, method: Method) -> Bool {
        guard isWellFormed(verifier) else { return false }
        let derived = switch method {
        case .s256: Base64URL.encode(Digest.sha256(verifier))
        case .plain: verifier
        }
        return constantTimeEquals(derived, challenge)
    }
}
