/// Building search filters from user input (RFC 4515).
public enum LDAPFilter {
    /// The login name as an RFC 4515 §3 assertion value: `*`, `(`, `)`, `\`, NUL and every byte
    /// outside ASCII become `\XX` (two lower-case hex digits), so that no input can add a
    /// wildcard, close the filter or start another one.
    public static func escape(_ value: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(value.utf8.count)
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "*"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "\\"), 0, 0x80...0xFF:
                escaped.append("\\")
                escaped.append(hexDigit(byte >> 4))
                escaped.append(hexDigit(byte & 0x0F))
            default:
                escaped.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return escaped
    }

    /// `template` with every `{0}` replaced by `escape(name)`.
    public static func substitute(_ template: String, name: String) -> String {
        let value = escape(name)
        var result = ""
        var rest = template[...]
        while let range = rest.firstRange(of: "{0}") {
            result += rest[..<range.lowerBound]
            result += value
            rest = rest[range.upperBound...]
        }
        result += rest
        return result
    }

    /// Parentheses balance, ignoring escaped characters: `(` and `)` never close early.
    static func parenthesesBalance(_ filter: String) -> Bool {
        let bytes = Array(filter.utf8)
        var depth = 0
        var escaping = false
        for (offset, character) in bytes.enumerated() {
            if escaping { escaping = false; continue }
            switch character {
            case UInt8(ascii: "\\"): escaping = true
            case UInt8(ascii: "("): depth += 1
            case UInt8(ascii: ")"):
                depth -= 1
                // Closing more than was opened, or a second top-level filter after the first.
                if depth < 0 || (depth == 0 && offset != bytes.count - 1) { return false }
            default: break
            }
        }
        return depth == 0 && !escaping
    }

    /// An attribute description of RFC 4512 §2.5: a name (letter, then letters, digits and
    /// hyphens) or a numeric OID, with optional `;option`s.
    static func isAttributeDescription(_ attribute: String) -> Bool {
        let parts = attribute.split(separator: ";", omittingEmptySubsequences: false)
        guard let type = parts.first, !type.isEmpty else { return false }
        let isName = type.first!.isASCII && type.first!.isLetter
            && type.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        let isOID = type.split(separator: ".", omittingEmptySubsequences: false).allSatisfy {
            !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber }
        }
        let optionsValid = parts.dropFirst().allSatisfy {
            !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
        return (isName || isOID) && optionsValid
    }

    private static func hexDigit(_ nibble: UInt8) -> Character {
        Character(Unicode.Scalar(nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10))
    }
}

/// Comparing distinguished names (RFC 4514) without the directory's matching rules.
public enum DistinguishedName {
    /// A comparable form: RDNs split at unescaped commas, spaces around each RDN, attribute type
    /// and value trimmed, escapes (`\,` and `\2C` alike) decoded, then lower-cased, and
    /// re-escaped canonically. Two DNs naming one entry with different case, spacing or escaping
    /// give the same string. Multi-valued RDNs are sorted by their AVAs.
    public static func normalized(_ dn: String) -> String {
        splitUnescaped(Array(dn.utf8), separators: [UInt8(ascii: ","), UInt8(ascii: ";")])
            .map { rdn in
                splitUnescaped(rdn, separators: [UInt8(ascii: "+")])
                    .map(normalizedAVA)
                    .sorted()
                    .joined(separator: "+")
            }
            .joined(separator: ",")
    }

    /// DN equality case-insensitively, modulo spacing and escaping (see `normalized`).
    public static func equal(_ lhs: String, _ rhs: String) -> Bool {
        normalized(lhs) == normalized(rhs)
    }

    private static func normalizedAVA(_ ava: [UInt8]) -> String {
        let pieces = splitUnescaped(ava, separators: [UInt8(ascii: "=")], maxSplits: 1)
        let type = String(decoding: trimmed(pieces[0]), as: UTF8.self).lowercased()
        guard pieces.count == 2 else { return type }
        let value = String(decoding: unescaped(trimmed(pieces[1])), as: UTF8.self).lowercased()
        var canonical = ""
        for character in value.unicodeScalars {
            if ",+=\\\"<>;#".unicodeScalars.contains(character) { canonical.append("\\") }
            canonical.unicodeScalars.append(character)
        }
        return type + "=" + canonical
    }

    /// Splits at separators not preceded by a backslash escape.
    private static func splitUnescaped(_ bytes: [UInt8], separators: Set<UInt8>, maxSplits: Int = .max) -> [[UInt8]] {
        var parts: [[UInt8]] = []
        var current: [UInt8] = []
        var escaping = false
        for byte in bytes {
            if escaping {
                current.append(byte)
                escaping = false
            } else if byte == UInt8(ascii: "\\") {
                current.append(byte)
                escaping = true
            } else if separators.contains(byte) && parts.count < maxSplits {
                parts.append(current)
                current = []
            } else {
                current.append(byte)
            }
        }
        parts.append(current)
        return parts
    }

    /// Trims spaces, keeping an escaped trailing space (`\ `).
    private static func trimmed(_ bytes: [UInt8]) -> [UInt8] {
        var start = 0
        var end = bytes.count
        while start < end, bytes[start] == UInt8(ascii: " ") { start += 1 }
        while end > start, bytes[end - 1] == UInt8(ascii: " "), !(end - 2 >= start && bytes[end - 2] == UInt8(ascii: "\\")) {
            end -= 1
        }
        return Array(bytes[start..<end])
    }

    /// Decodes `\XX` (hex) and `\c` escapes (RFC 4514 §3).
    private static func unescaped(_ bytes: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                if index + 2 < bytes.count, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                    result.append(high << 4 | low)
                    index += 3
                } else {
                    result.append(bytes[index + 1])
                    index += 2
                }
            } else {
                result.append(byte)
                index += 1
            }
        }
        return result
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
