/// RFC 5849 §3.6: percent-encode every byte except the unreserved characters, uppercase hex.
public enum PercentEncoding {
    private static let hex = Array("0123456789ABCDEF".utf8)

    public static func encode(_ text: String) -> String {
        // Every signed request encodes each parameter: return unreserved-only text as it is.
        guard text.utf8.contains(where: { !isUnreserved($0) }) else { return text }
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count + 16)
        for b in text.utf8 {
            if isUnreserved(b) {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
            || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
    }

    /// Decodes `%XX` escapes (no `+` rule: the Authorization header uses RFC 3986 encoding).
    /// Nil for broken escapes or invalid UTF-8.
    public static func decode(_ text: some StringProtocol) -> String? {
        decode(bytes: ArraySlice(text.utf8))
    }

    static func decode(bytes input: ArraySlice<UInt8>) -> String? {
        guard input.contains(UInt8(ascii: "%")) else { return String(validating: input, as: UTF8.self) }
        var bytes = [UInt8]()
        bytes.reserveCapacity(input.count)
        var it = input.makeIterator()
        while let b = it.next() {
            if b == UInt8(ascii: "%") {
                guard let h = it.next().flatMap(hexValue), let l = it.next().flatMap(hexValue) else { return nil }
                bytes.append(h << 4 | l)
            } else {
                bytes.append(b)
            }
        }
        return String(validating: bytes, as: UTF8.self)
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
