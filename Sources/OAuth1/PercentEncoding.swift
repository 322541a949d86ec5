import LinkgateCore

/// RFC 5849 §3.6 percent-encoding: RFC 3986 rules, uppercase hex, no `+` for space. The same
/// rules as `FormURLEncoded.encode`, and its decoding with `+` left alone.
public enum PercentEncoding {
    public static func encode(_ text: String) -> String {
        FormURLEncoded.encode(text)
    }

    /// Decodes `%XX` escapes (no `+` rule: the Authorization header uses RFC 3986 encoding).
    /// Nil for broken escapes or invalid UTF-8.
    public static func decode(_ text: some StringProtocol) -> String? {
        try? FormURLEncoded.decode(text, plusIsSpace: false)
    }

    static func decode(bytes: ArraySlice<UInt8>) -> String? {
        try? FormURLEncoded.decode(bytes: bytes, plusIsSpace: false)
    }
}
