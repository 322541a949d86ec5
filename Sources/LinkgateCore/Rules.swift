/// Input rules shared by the REST API, the console and the CLI.
public enum Rules {
    /// User names: 1–64 of `A–Z a–z 0–9 . _ @ + -`, starting with a letter or digit. They appear in
    /// URL paths, OAuth 1.0 `xoauth_requestor_id` and JWT `sub`, so they stay plain.
    public static func userName(_ name: String, field: String = "name") throws -> String {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count) else { throw ValidationError(field, "must be 1 to 64 characters") }
        guard isAlnum(bytes[0]), bytes.allSatisfy({ isAlnum($0) || ".-_@+".utf8.contains($0) }) else {
            throw ValidationError(field, "may contain only letters, digits and . _ @ + - and must start with a letter or digit")
        }
        return name
    }

    /// Passwords: 8 to 1024 characters.
    public static func password(_ password: String, field: String = "password") throws -> String {
        guard password.count >= 8 else { throw ValidationError(field, "must be at least 8 characters") }
        guard password.utf8.count <= 1024 else { throw ValidationError(field, "must be at most 1024 bytes") }
        return password
    }

    /// Human-readable labels (display names, client names): trimmed, 1–255 characters, no
    /// control characters. Markup is allowed here and escaped wherever it is shown.
    public static func label(_ text: String, field: String) throws -> String {
        let trimmed = text.trimmingSpaces()
        guard !trimmed.isEmpty else { throw ValidationError(field, "must not be empty") }
        guard trimmed.count <= 255 else { throw ValidationError(field, "must be at most 255 characters") }
        guard !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ValidationError(field, "must not contain control characters")
        }
        return trimmed
    }

    /// E-mail addresses: a plain `local@domain` shape, at most 254 bytes.
    public static func email(_ text: String, field: String = "email") throws -> String {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard text.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
              !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
              !text.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control || "<>\"'(),;:\\[]".unicodeScalars.contains($0) })
        else { throw ValidationError(field, "is not a valid e-mail address") }
        return text
    }

    /// Parses a single scope value (INTERFACE §4: case-sensitive).
    public static func scope(_ text: String, field: String = "scope") throws -> Scope {
        guard let scope = Scope(rawValue: text) else {
            throw ValidationError(field, "must be one of READ, WRITE, ADMIN, SYSTEM_ADMIN")
        }
        return scope
    }

    /// Whether `next` is a path on this server that a login may return to: it starts with a
    /// single `/`, and has no backslash, control character or scheme trick (`//evil`, `/\evil`).
    public static func isLocalPath(_ next: String) -> Bool {
        let bytes = Array(next.utf8)
        guard bytes.count <= 2048, bytes.first == UInt8(ascii: "/") else { return false }
        if bytes.count > 1 && (bytes[1] == UInt8(ascii: "/") || bytes[1] == UInt8(ascii: "\\")) { return false }
        return !bytes.contains(where: { $0 < 0x21 || $0 == 0x7F || $0 == UInt8(ascii: "\\") })
    }

    static func isAlnum(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
    }
}

extension String {
    /// The string without leading and trailing white space.
    public func trimmingSpaces() -> String {
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let end = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[start...end])
    }
}

extension Substring {
    /// The substring without leading and trailing `character`s.
    public func trimmingCharacters(in character: Character) -> Substring {
        var s = self
        while s.first == character { s = s.dropFirst() }
        while s.last == character { s = s.dropLast() }
        return s
    }
}
