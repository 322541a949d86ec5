import LinkgateCore
import LinkgateCrypto

/// What an admin sends to register a consumer (INTERFACE §7).
public struct NewConsumer: Sendable, Equatable {
    public var key: String
    public var name: String
    public var description: String?
    public var publicKey: String
    public var callback: String?
    public var threeLeggedAllowed = true
    public var twoLeggedAllowed = false
    public var executeAs: String?
    public var impersonationAllowed = false
    public var allowedAddresses = AddressAllowList.any
    public var signatureMethods = SignatureMethod.defaults

    public init(key: String, name: String, description: String? = nil, publicKey: String, callback: String? = nil,
                threeLeggedAllowed: Bool = true, twoLeggedAllowed: Bool = false, executeAs: String? = nil, impersonationAllowed: Bool = false,
                signatureMethods: [SignatureMethod] = SignatureMethod.defaults) {
        self.key = key
        self.name = name
        self.description = description
        self.publicKey = publicKey
        self.callback = callback
        self.threeLeggedAllowed = threeLeggedAllowed
        self.twoLeggedAllowed = twoLeggedAllowed
        self.executeAs = executeAs
        self.impersonationAllowed = impersonationAllowed
        self.signatureMethods = signatureMethods
    }
}

/// The keys a `PUT` may change; nil leaves a value, `.some(nil)` clears it.
public struct ConsumerChange: Sendable, Equatable {
    public var name: String?
    public var description: String??
    public var publicKey: String?
    public var callback: String??
    public var threeLeggedAllowed: Bool?
    public var twoLeggedAllowed: Bool?
    public var executeAs: String??
    public var impersonationAllowed: Bool?
    public var allowedAddresses: AddressAllowList?
    public var signatureMethods: [SignatureMethod]?

    public init(name: String? = nil, description: String?? = nil, publicKey: String? = nil, callback: String?? = nil,
                threeLeggedAllowed: Bool? = nil, twoLeggedAllowed: Bool? = nil, executeAs: String?? = nil, impersonationAllowed: Bool? = nil,
                signatureMethods: [SignatureMethod]? = nil) {
        self.name = name
        self.description = description
        self.publicKey = publicKey
        self.callback = callback
        self.threeLeggedAllowed = threeLeggedAllowed
        self.twoLeggedAllowed = twoLeggedAllowed
        self.executeAs = executeAs
        self.impersonationAllowed = impersonationAllowed
        self.signatureMethods = signatureMethods
    }
}

/// The consumer registry: validation and storage of consumers.
public struct ConsumerRegistry: Sendable {
    /// RSA-SHA1 consumers need keys of at least 1024 bits (INTERFACE §7).
    public static let minimumKeyBits = 1024

    let store: any OAuth1Store
    let users: any UserStore
    let now: @Sendable () -> Int64

    public init(store: any OAuth1Store, users: any UserStore, now: @escaping @Sendable () -> Int64) {
        self.store = store
        self.users = users
        self.now = now
    }

    public func register(_ input: NewConsumer) async throws -> Consumer {
        let consumer = try await validated(Consumer(
            key: input.key, name: input.name, description: input.description, publicKey: input.publicKey, callback: input.callback,
            threeLeggedAllowed: input.threeLeggedAllowed, twoLeggedAllowed: input.twoLeggedAllowed, executeAs: input.executeAs,
            impersonationAllowed: input.impersonationAllowed, allowedAddresses: input.allowedAddresses, createdAt: now(),
            signatureMethods: input.signatureMethods))
        do {
            try await store.createConsumer(consumer)
        } catch StoreError.conflict {
            throw StoreError.conflict("a consumer with key '\(consumer.key)' already exists")
        }
        return consumer
    }

    public func update(key: String, change: ConsumerChange) async throws -> Consumer {
        guard var consumer = try await store.consumer(key: key) else { throw StoreError.notFound }
        if let name = change.name { consumer.name = name }
        if let description = change.description { consumer.description = description }
        if let publicKey = change.publicKey { consumer.publicKey = publicKey }
        if let callback = change.callback { consumer.callback = callback }
        if let v = change.threeLeggedAllowed { consumer.threeLeggedAllowed = v }
        if let v = change.twoLeggedAllowed { consumer.twoLeggedAllowed = v }
        if let executeAs = change.executeAs { consumer.executeAs = executeAs }
        if let v = change.impersonationAllowed { consumer.impersonationAllowed = v }
        if let v = change.allowedAddresses { consumer.allowedAddresses = v }
        if let v = change.signatureMethods { consumer.signatureMethods = v }
        consumer = try await validated(consumer)
        try await store.updateConsumer(consumer)
        return consumer
    }

    public func delete(key: String) async throws {
        try await store.deleteConsumer(key: key)
    }

    /// Consumer keys: 1–255 printable characters without spaces (Atlassian's look like `jira:1234567`).
    static func validKey(_ key: String) -> Bool {
        (1...255).contains(key.utf8.count) && key.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "\\") }
    }

    private func validated(_ consumer: Consumer) async throws -> Consumer {
        var consumer = consumer
        guard Self.validKey(consumer.key) else {
            throw ValidationError("key", "must be 1 to 255 printable characters without spaces or slashes")
        }
        consumer.name = try Rules.label(consumer.name, field: "name")
        if let description = consumer.description {
            guard description.count <= 1000 else { throw ValidationError("description", "must be at most 1000 characters") }
        }
        do {
            consumer.publicKey = try RSAPublicKey(parsing: consumer.publicKey, minimumBits: Self.minimumKeyBits).pem
        } catch let error as CryptoError {
            throw ValidationError("publicKey", error.message)
        }
        consumer.signatureMethods = try SignatureMethod.list(consumer.signatureMethods.map(\.rawValue))
        if let callback = consumer.callback, !ThreeLeggedFlow.isAbsoluteHTTPURL(callback) {
            throw ValidationError("callback", "must be an absolute http(s) URL")
        }
        if let executeAs = consumer.executeAs {
            guard let user = try await users.user(named: executeAs) else {
                throw ValidationError("executeAs", "no user named '\(executeAs.prefix(64))'")
            }
            consumer.executeAs = user.name
        }
        return consumer
    }
}
