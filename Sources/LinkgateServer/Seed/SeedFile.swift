import Foundation
import LinkgateCore
import OAuth1

/// A seed file (INTERFACE §12): users, OAuth 2.0 clients and OAuth 1.0a consumers to exist at
/// start (`serve --seed`, `fixture --config`), and fixture-only settings.
///
/// Entries use the REST API's field names and rules (§3, §5, §7); a client may fix its
/// `clientId` and `clientSecret`. Parsing checks the shape; the registries check the values
/// when the seed is applied, so both report errors the same way REST does.
public struct SeedFile: Sendable {
    public struct SeedUser: Sendable {
        public var name: String
        public var password: String
        public var displayName: String?
        public var email: String?
        public var admin: Bool
    }

    public struct SeedClient: Sendable {
        public var input: NewOAuth2Client
        public var clientId: String?
        public var clientSecret: String?
    }

    /// How the fixture answers an authorize request (§12): show the consent page, approve at
    /// once, or deny at once.
    public enum ConsentMode: String, Sendable { case page, auto, deny }

    public struct Lifetimes: Sendable, Equatable {
        public var accessToken: Int64?
        public var refreshToken: Int64?
        public var code: Int64?
    }

    public var users: [SeedUser] = []
    public var clients: [SeedClient] = []
    public var consumers: [NewConsumer] = []
    public var consent: ConsentMode = .page
    public var now: Int64?
    public var lifetimes = Lifetimes()

    public init() {}

    /// Reads and parses the file at `path`.
    public init(path: String) throws(SeedError) {
        guard let data = FileManager.default.contents(atPath: path) else { throw SeedError("cannot read seed file '\(path)'") }
        try self.init(json: data)
    }

    public init(json data: some Collection<UInt8>) throws(SeedError) {
        guard let value = JSONValue.parse(data) else { throw SeedError("the seed file is not valid JSON") }
        try self.init(value: value)
    }

    public init(value: JSONValue) throws(SeedError) {
        guard case .object(let root) = value else { throw SeedError("the seed file must be a JSON object") }
        do {
            let top = try SeedObject(.object(root), at: "seed", allowed: ["users", "clients", "consumers", "consent", "now", "lifetimes"])
            for (index, item) in try top.array("users").enumerated() {
                let entry = try SeedObject(item, at: "users[\(index)]", allowed: ["name", "password", "displayName", "email", "admin"])
                users.append(SeedUser(name: try entry.string("name"), password: try entry.string("password"),
                                      displayName: try entry.optionalString("displayName"), email: try entry.optionalString("email"),
                                      admin: try entry.bool("admin") ?? false))
            }
            for (index, item) in try top.array("clients").enumerated() {
                let entry = try SeedObject(item, at: "clients[\(index)]", allowed: [
                    "name", "redirects", "scope", "impersonation", "publicKey", "executeAs", "allowedAddresses", "clientId", "clientSecret",
                ])
                let input = NewOAuth2Client(
                    name: try entry.string("name"), redirects: try entry.stringArray("redirects") ?? [],
                    scope: try entry.rule("scope") { try Rules.scope(try entry.string("scope")) },
                    impersonation: try entry.bool("impersonation") ?? false, publicKey: try entry.optionalString("publicKey"),
                    executeAs: try entry.optionalString("executeAs"),
                    allowedAddresses: try entry.rule("allowedAddresses") { try AddressAllowList.parse(try entry.stringArray("allowedAddresses")) })
                clients.append(SeedClient(input: input, clientId: try entry.optionalString("clientId"),
                                          clientSecret: try entry.optionalString("clientSecret")))
            }
            for (index, item) in try top.array("consumers").enumerated() {
                let entry = try SeedObject(item, at: "consumers[\(index)]", allowed: [
                    "key", "name", "description", "publicKey", "callback", "threeLeggedAllowed", "twoLeggedAllowed", "executeAs",
                    "impersonationAllowed", "allowedAddresses", "signatureMethods",
                ])
                var consumer = NewConsumer(
                    key: try entry.string("key"), name: try entry.string("name"), description: try entry.optionalString("description"),
                    publicKey: try entry.string("publicKey"), callback: try entry.optionalString("callback"),
                    threeLeggedAllowed: try entry.bool("threeLeggedAllowed") ?? true, twoLeggedAllowed: try entry.bool("twoLeggedAllowed") ?? false,
                    executeAs: try entry.optionalString("executeAs"), impersonationAllowed: try entry.bool("impersonationAllowed") ?? false)
                consumer.allowedAddresses = try entry.rule("allowedAddresses") { try AddressAllowList.parse(try entry.stringArray("allowedAddresses")) }
                if let names = try entry.stringArray("signatureMethods") {
                    consumer.signatureMethods = try entry.rule("signatureMethods") {
                        try names.map { name in
                            guard let method = SignatureMethod(rawValue: name) else { throw ValidationError("signatureMethods", "unknown method '\(name.prefix(32))'") }
                            return method
                        }
                    }
                }
                consumers.append(consumer)
            }
            if let mode = try top.optionalString("consent") {
                guard let parsed = ConsentMode(rawValue: mode) else { throw SeedError("seed: consent must be \"page\", \"auto\" or \"deny\"") }
                consent = parsed
            }
            now = try top.integer("now")
            if let value = top.members["lifetimes"], value != JSONValue.null {
                let entry = try SeedObject(value, at: "lifetimes", allowed: ["accessToken", "refreshToken", "code"])
                lifetimes = Lifetimes(accessToken: try entry.integer("accessToken", in: 1...315_360_000),
                                      refreshToken: try entry.integer("refreshToken", in: 1...315_360_000),
                                      code: try entry.integer("code", in: 1...86_400))
            }
        } catch let error as SeedError {
            throw error
        } catch {
            throw SeedError("seed: \(error)")
        }
    }
}

/// What is wrong with a seed file, naming the entry (`clients[1] (Jira): redirects: …`).
public struct SeedError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One JSON object of a seed file, read key by key like a REST body; errors name `path`.
struct SeedObject {
    let members: [String: JSONValue]
    let path: String

    init(_ value: JSONValue, at path: String, allowed: Set<String>) throws(SeedError) {
        guard case .object(let members) = value else { throw SeedError("\(path): must be a JSON object") }
        self.path = members["name"].flatMap { if case .string(let name) = $0 { "\(path) (\(name.prefix(64)))" } else { nil } }
            ?? members["key"].flatMap { if case .string(let key) = $0 { "\(path) (\(key.prefix(64)))" } else { nil } }
            ?? path
        let unknown = members.keys.filter { !allowed.contains($0) }.sorted()
        guard unknown.isEmpty else { throw SeedError("\(self.path): unknown key \(unknown.map { "'\($0.prefix(64))'" }.joined(separator: ", "))") }
        self.members = members
    }

    func fail(_ key: String, _ problem: String) -> SeedError { SeedError("\(path): \(key): \(problem)") }

    func string(_ key: String) throws(SeedError) -> String {
        guard let value = members[key], value != .null else { throw fail(key, "is required") }
        guard case .string(let text) = value else { throw fail(key, "must be a string") }
        return text
    }

    func optionalString(_ key: String) throws(SeedError) -> String? {
        guard let value = members[key], value != .null else { return nil }
        guard case .string(let text) = value else { throw fail(key, "must be a string") }
        return text
    }

    func bool(_ key: String) throws(SeedError) -> Bool? {
        guard let value = members[key], value != .null else { return nil }
        guard case .bool(let flag) = value else { throw fail(key, "must be true or false") }
        return flag
    }

    func integer(_ key: String, in range: ClosedRange<Int64> = 0...Int64(Int32.max) * 1000) throws(SeedError) -> Int64? {
        guard let value = members[key], value != .null else { return nil }
        guard case .number(let number) = value, number == number.rounded(), let whole = Int64(exactly: number), range.contains(whole) else {
            throw fail(key, "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return whole
    }

    func stringArray(_ key: String) throws(SeedError) -> [String]? {
        guard let value = members[key], value != .null else { return nil }
        guard case .array(let items) = value else { throw fail(key, "must be an array of strings") }
        var strings: [String] = []
        for item in items {
            guard case .string(let text) = item else { throw fail(key, "must be an array of strings") }
            strings.append(text)
        }
        return strings
    }

    func array(_ key: String) throws(SeedError) -> [JSONValue] {
        guard let value = members[key], value != .null else { return [] }
        guard case .array(let items) = value else { throw fail(key, "must be an array") }
        return items
    }

    /// Runs one of the REST rules, reporting its complaint under this entry.
    func rule<T>(_ key: String, _ check: () throws -> T) throws(SeedError) -> T {
        do {
            return try check()
        } catch let error as SeedError {
            throw error
        } catch let error as ValidationError {
            throw SeedError("\(path): \(error.description)")
        } catch {
            throw fail(key, "\(error)")
        }
    }
}
