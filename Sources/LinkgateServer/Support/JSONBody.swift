import Hummingbird
import LinkgateCore
import NIOCore

/// A JSON object request body, checked key by key (INTERFACE §1): unknown keys, wrong types
/// and missing required keys are `400 invalid_request` naming the key.
struct JSONBody {
    let members: [String: JSONValue]

    /// Reads and parses the body; only `allowed` keys may appear.
    static func read(_ request: Request, allowed: Set<String>) async throws -> JSONBody {
        guard let body = try await readIfAny(request, allowed: allowed) else { throw APIError.invalidRequest("a JSON object body is required") }
        return body
    }

    /// `read`, for calls whose body is optional: an empty body is nil.
    static func readIfAny(_ request: Request, allowed: Set<String>) async throws -> JSONBody? {
        let bytes = try await request.readBody()
        guard !bytes.isEmpty else { return nil }
        guard let value = JSONValue.parse(bytes) else { throw APIError.invalidRequest("the body is not valid JSON") }
        guard case .object(let members) = value else { throw APIError.invalidRequest("the body must be a JSON object") }
        let unknown = members.keys.filter { !allowed.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw APIError.invalidRequest("unknown key\(unknown.count > 1 ? "s" : ""): \(unknown.map { "'\($0.prefix(64))'" }.joined(separator: ", "))")
        }
        return JSONBody(members: members)
    }

    func has(_ key: String) -> Bool { members[key] != nil }

    /// A required string.
    func string(_ key: String) throws -> String {
        guard let value = members[key], value != .null else { throw ValidationError(key, "is required") }
        guard case .string(let s) = value else { throw ValidationError(key, "must be a string") }
        return s
    }

    /// Absent → nil; present → the string (null not allowed).
    func optionalString(_ key: String) throws -> String? {
        guard members[key] != nil else { return nil }
        return try string(key)
    }

    /// Absent → nil; `null` → `.some(nil)`; a string → `.some(s)`.
    func nullableString(_ key: String) throws -> String?? {
        guard let value = members[key] else { return nil }
        switch value {
        case .null: return .some(nil)
        case .string(let s): return .some(s)
        default: throw ValidationError(key, "must be a string or null")
        }
    }

    /// Absent (or null) → nil; a boolean → it.
    func bool(_ key: String) throws -> Bool? {
        guard let value = members[key], value != .null else { return nil }
        guard case .bool(let b) = value else { throw ValidationError(key, "must be true or false") }
        return b
    }

    /// Absent → nil; an array of strings → it.
    func stringArray(_ key: String) throws -> [String]? {
        guard let value = members[key] else { return nil }
        guard case .array(let items) = value else { throw ValidationError(key, "must be an array of strings") }
        return try items.map {
            guard case .string(let s) = $0 else { throw ValidationError(key, "must be an array of strings") }
            return s
        }
    }
}

extension JSONBody {
    /// A link's `allowedAddresses` (INTERFACE §10): absent → nil (unchanged); `null` or `[]` →
    /// any address; an array of CIDR ranges or addresses → that restriction.
    func allowedAddresses() throws -> AddressAllowList? {
        guard let value = members["allowedAddresses"] else { return nil }
        if value == .null { return .any }
        return try AddressAllowList.parse(try stringArray("allowedAddresses"))
    }
}

/// Upper bound for request bodies on REST and OAuth endpoints (INTERFACE §1).
let maximumBodyBytes = 64 * 1024

extension Request {
    /// Collects the body up to `maximumBodyBytes`; larger → `413`.
    func readBody() async throws -> [UInt8] {
        do {
            var buffer = try await body.collect(upTo: maximumBodyBytes)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch is NIOTooManyBytesError {
            throw APIError.tooLarge(limit: maximumBodyBytes)
        }
    }

    /// Parses an `application/x-www-form-urlencoded` body; malformed → `400`.
    func readForm() async throws -> [(name: String, value: String)] {
        let bytes = try await readBody()
        do {
            // Parsed from the bytes: a component that is not UTF-8 is refused, not repaired.
            return try FormURLEncoded.parse(bytes: bytes)
        } catch {
            throw APIError.invalidRequest("the form body is not valid application/x-www-form-urlencoded")
        }
    }

    /// `readForm()` for browser pages: a refused body is shown as an HTML page, not JSON.
    func readPageForm() async throws -> [(name: String, value: String)] {
        do {
            return try await readForm()
        } catch let error as APIError {
            throw PageError(status: error.status, title: "Request refused", message: error.message)
        }
    }
}

extension Array where Element == (name: String, value: String) {
    /// The single value of `name`; a repeated one is rejected (RFC 6749 §3.1).
    func single(_ name: String) throws -> String? {
        let values = filter { $0.name == name }
        guard values.count <= 1 else { throw APIError.invalidRequest("parameter '\(name)' is repeated") }
        return values.first?.value
    }
}
