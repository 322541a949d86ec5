/// Case-insensitive checks of protocol tokens (header values, schemes, media types), which are
/// ASCII: byte by byte, without the Unicode case mapping and allocation of `lowercased()`.
extension StringProtocol {
    /// Whether the text starts with `prefix`, ASCII letters compared without case (RFC 9110 §8.3.1
    /// media types, RFC 7235 §2.1 schemes). `prefix` must be lowercase.
    /// (Inlinable, so a caller in another module gets it specialized for its string type:
    /// unspecialized, each byte goes through protocol witnesses, about 11 k instructions for a media type.)
    @inlinable
    public func hasASCIICaseInsensitivePrefix(_ prefix: StaticString) -> Bool {
        var own = utf8.makeIterator()
        return prefix.withUTF8Buffer { expected in
            for byte in expected {
                guard let next = own.next(), asciiLowercase(next) == byte else { return false }
            }
            return true
        }
    }

    /// The text with ASCII letters lowercased; every other byte as it is.
    @inlinable
    public var asciiLowercased: String {
        guard utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else { return String(self) }
        return String(decoding: utf8.map(asciiLowercase), as: UTF8.self)
    }
}

@inline(__always) @usableFromInline
func asciiLowercase(_ byte: UInt8) -> UInt8 {
    byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
}
