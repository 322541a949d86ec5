/// `application/x-www-form-urlencoded` parsing (WHATWG URL §5.1): `+` is a space, `%XX` a
/// byte, the result must be UTF-8. Keeps order and duplicates so callers can reject
/// repeated OAuth parameters (RFC 6749 §3.1).
public enum FormURLEncoded {
    public struct MalformedError: Error, Equatable, Sendable {}

    public static func parse(_ text: some StringProtocol) throws -> [(name: String, value: String)] {
        var pairs: [(String, String)] = []
        for part in text.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = try decode(kv[0])
            let value = kv.count == 2 ? try decode(kv[1]) : ""
            pairs.append((name, value))
        }
        return pairs
    }

    /// Decodes one component; throws on bad `%` escapes or invalid UTF-8.
    public static func decode(_ component: some StringProtocol, plusIsSpace: Bool = true) throws -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(component.utf8.count)
        var it = component.utf8.makeIterator()
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

    /// Percent-encodes everything but RFC 3986 unreserved characters.
    public static func encode(_ text: String) -> String {
        var out = ""
        for b in text.utf8 {
            if Rules.isAlnum(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~") {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += "%" + String(b, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
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
