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
        guard case .object = value else { throw SeedError("the seed file must be a JSON object") }
        let top = try SeedEntry(value, at: "seed")
        let mode = try top.read(allowed: ["users", "clients", "consumers", "consent", "now", "lifetimes"]) { body in
            now = try body.integer("now", in: 0...Int64(Int32.max) * 1000)
            return try body.nullableString("consent") ?? nil
        }
        if let mode {
            guard let parsed = ConsentMode(rawValue: mode) else { throw SeedError("seed: consent must be \"page\", \"auto\" or \"deny\"") }
            consent = parsed
        }
        for (index, item) in try top.array("users").enumerated() {
            users.append(try SeedEntry(item, at: "users[\(index)]").read(allowed: ["name", "password", "displayName", "email", "admin"]) { body in
                SeedUser(name: try body.string("name"), password: try body.string("password"),
                         displayName: try body.nullableString("displayName") ?? nil, email: try body.nullableString("email") ?? nil,
                         admin: try body.bool("admin") ?? false)
            })
        }
        // Clients and consumers are read by the REST API's own rules (§5, §7).
        for (index, item) in try top.array("clients").enumerated() {
            clients.append(try SeedEntry(item, at: "clients[\(index)]").read(allowed: ClientRoutes.keys.union(["clientId", "clientSecret"])) { body in
                SeedClient(input: try ClientRoutes.newClient(body), clientId: try body.nullableString("clientId") ?? nil,
                           clientSecret: try body.nullableString("clientSecret") ?? nil)
            })
        }
        for (index, item) in try top.array("consumers").enumerated() {
            consumers.append(try SeedEntry(item, at: "consumers[\(index)]").read(allowed: ConsumerRoutes.keys) { body in
                var consumer = NewConsumer(
                    key: try body.string("key"), name: try body.string("name"), description: try body.nullableString("description") ?? nil,
                    publicKey: try body.string("publicKey"), callback: try body.nullableString("callback") ?? nil,
                    threeLeggedAllowed: try body.bool("threeLeggedAllowed") ?? true, twoLeggedAllowed: try body.bool("twoLeggedAllowed") ?? false,
                    executeAs: try body.nullableString("executeAs") ?? nil, impersonationAllowed: try body.bool("impersonationAllowed") ?? false,
                    signatureMethods: try ConsumerRoutes.signatureMethods(body) ?? SignatureMethod.defaults)
                consumer.allowedAddresses = try body.allowedAddresses() ?? .any
                return consumer
            })
        }
        if let value = try top.read(allowed: nil, { $0.members["lifetimes"] }), value != .null {
            lifetimes = try SeedEntry(value, at: "lifetimes").read(allowed: ["accessToken", "refreshToken", "code"]) { body in
                Lifetimes(accessToken: try body.integer("accessToken", in: 1...315_360_000),
                          refreshToken: try body.integer("refreshToken", in: 1...315_360_000),
                          code: try body.integer("code", in: 1...86_400))
            }
        }
    }
}

/// What is wrong with a seed file, naming the entry (`clients[1] (Jira): redirects: …`).
public struct SeedError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One JSON object of a seed file, read with the REST API's `JSONBody` accessors and rules;
/// their complaints are reported under the entry's path, e.g. `clients[1] (Jira): redirects: …`.
struct SeedEntry {
    let members: [String: JSONValue]
    let path: String

    init(_ value: JSONValue, at path: String) throws(SeedError) {
        guard case .object(let members) = value else { throw SeedError("\(path): must be a JSON object") }
        self.members = members
        self.path = (members["name"] ?? members["key"]).flatMap { if case .string(let label) = $0 { "\(path) (\(label.prefix(64)))" } else { nil } }
            ?? path
    }

    /// Runs `body` on the entry (only `allowed` keys may appear, unless nil), naming the entry in any error.
    func read<T>(allowed: Set<String>?, _ body: (JSONBody) throws -> T) throws(SeedError) -> T {
        if let allowed {
            let unknown = members.keys.filter { !allowed.contains($0) }.sorted()
            guard unknown.isEmpty else { throw SeedError("\(path): unknown key \(unknown.map { "'\($0.prefix(64))'" }.joined(separator: ", "))") }
        }
        do {
            return try body(JSONBody(members: members))
        } catch let error as ValidationError {
            throw SeedError("\(path): \(error.description)")
        } catch {
            throw SeedError("\(path): \(error)")
        }
    }

    /// The array under `key` (absent or null: none).
    func array(_ key: String) throws(SeedError) -> [JSONValue] {
        try read(allowed: nil) { body in
            guard let value = body.members[key], value != .null else { return [] }
            guard case .array(let items) = value else { throw ValidationError(key, "must be an array") }
            return items
        }
    }
}

extension JSONBody {
    /// Absent (or null) → nil; a whole number in `range` → it.
    func integer(_ key: String, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let value = members[key], value != .null else { return nil }
        guard case .number(let number) = value, number == number.rounded(), let whole = Int64(exactly: number), range.contains(whole) else {
            throw ValidationError(key, "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return whole
    }
}
