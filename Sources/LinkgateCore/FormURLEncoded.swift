/// `application/x-www-form-urlencoded` parsing (WHATWG URL §5.1): `+` is a space, `%XX` a
/// byte, the result must be UTF-8. Keeps order and duplicates so callers can reject
/// repeated OAuth parameters (RFC 6749 §3.1).
public enum FormURLEncoded {
    public struct MalformedError: Error, Equatable, Sendable {}

    // Both entry points work on the UTF-8 bytes in place: this runs on every token request.

    public static func parse(_ text: some StringProtocol) throws -> [(name: String, value: String)] {
        if let pairs = try text.utf8.withContiguousStorageIfAvailable({ try parse(bytes: $0) }) { return pairs }
        return try Array(text.utf8).withUnsafeBufferPointer { try parse(bytes: $0) }
    }

    /// Parses a body as received; throws on bad `%` escapes or components that are not UTF-8.
    public static func parse(bytes: [UInt8]) throws -> [(name: String, value: String)] {
        try bytes.withUnsafeBufferPointer { try parse(bytes: $0) }
    }

    /// Decodes one component; throws on bad `%` escapes or invalid UTF-8.
    public static func decode(_ component: some StringProtocol, plusIsSpace: Bool = true) throws -> String {
        if let decoded = try component.utf8.withContiguousStorageIfAvailable({ try decode(bytes: $0, plusIsSpace: plusIsSpace) }) {
            return decoded
        }
        return try Array(component.utf8).withUnsafeBufferPointer { try decode(bytes: $0, plusIsSpace: plusIsSpace) }
    }

    /// Decodes one component given as bytes (e.g. a slice of a header being parsed).
    public static func decode(bytes: ArraySlice<UInt8>, plusIsSpace: Bool) throws -> String {
        try bytes.withUnsafeBufferPointer { try decode(bytes: $0, plusIsSpace: plusIsSpace) }
    }

    private static func parse(bytes: UnsafeBufferPointer<UInt8>) throws -> [(name: String, value: String)] {
        var pairs: [(String, String)] = []
        for part in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let part = UnsafeBufferPointer(rebasing: part)
            if let equals = part.firstIndex(of: UInt8(ascii: "=")) {
                pairs.append((try decode(bytes: UnsafeBufferPointer(rebasing: part[..<equals]), plusIsSpace: true),
                              try decode(bytes: UnsafeBufferPointer(rebasing: part[(equals + 1)...]), plusIsSpace: true)))
            } else {
                pairs.append((try decode(bytes: part, plusIsSpace: true), ""))
            }
        }
        return pairs
    }

    private static func decode(bytes input: UnsafeBufferPointer<UInt8>, plusIsSpace: Bool) throws -> String {
        // Nothing to decode (the usual case for ids, secrets and tokens): the bytes as they are.
        if !input.contains(where: { $0 == UInt8(ascii: "%") || ($0 == UInt8(ascii: "+") && plusIsSpace) }) {
            guard let string = String(validating: input, as: UTF8.self) else { throw MalformedError() }
            return string
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(input.count)
        var it = input.makeIterator()
        while let b = it.next() {
            if b == UInt8(ascii: "+") && plusIsSpace {
                bytes.append(0x20)
            } else if b == UInt8(ascii: "%") {
                guard let h = it.next().flatMap(hexValue), let l = it.next().flatMap(hexValue) else { throw MalformedError() }
                bytes.append(h << 4 | l)
            } else {
                bytes.append(b)
            }
        }
        guard let string = String(validating: bytes, as: UTF8.self) else { throw MalformedError() }
        return string
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    /// Percent-encodes everything but RFC 3986 unreserved characters, with uppercase hex
    /// (also RFC 5849 §3.6, which every signed request goes through).
    public static func encode(_ text: String) -> String {
        // Unreserved-only text, the usual case, is returned as it is.
        guard text.utf8.contains(where: { !isUnreserved($0) }) else { return text }
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count + 16)
        appendEncoded(text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `encode`, appending the encoded bytes to `out`.
    public static func appendEncoded(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { appendEncoded($0, to: &out) }
    }

    /// `encode` of UTF-8 bytes, appended to `out`.
    public static func appendEncoded(_ bytes: [UInt8], to out: inout [UInt8]) {
        bytes.withUnsafeBufferPointer { appendEncoded($0, to: &out) }
    }

    private static func appendEncoded(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        for b in bytes {
            if isUnreserved(b) {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(b >> 4)])
                out.append(hexDigits[Int(b & 0x0F)])
            }
        }
    }

    static func isUnreserved(_ b: UInt8) -> Bool {
        Rules.isAlnum(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
    }

    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
