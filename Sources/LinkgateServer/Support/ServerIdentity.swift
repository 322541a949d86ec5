import Foundation
import LinkgateCore
import LinkgateCrypto
import OAuth2

/// This server's own identity as an application-link peer: a 2048-bit RSA key and a consumer
/// key (for consumer-info), and a stable applinks id (for the manifest). Made on first start, kept.
struct ServerIdentity: Sendable {
    let consumerKey: String
    let publicKey: RSAPublicKey
    let applicationId: String
    /// The id_token signing keys (INTERFACE §14), oldest first; the first is the consumer-info key.
    let signingKeys: SigningKeys

    /// The settings entry listing the settings that hold the id_token signing keys (PEM), oldest
    /// first, as a JSON array of names. It starts with the consumer-info key; a key rotation
    /// (INTERFACE §14, not built yet) appends a new entry and leaves that one alone.
    static let signingKeysSetting = "oidc.signing_keys"
    static let consumerInfoKeySetting = "server.rsa_private_key"

    static func load(from settings: any SettingsStore) async throws -> ServerIdentity {
        let pem = try await settings.settingOrCreate(consumerInfoKeySetting) { try RSAPrivateKey(generatingBits: 2048).pem }
        let key = try RSAPrivateKey(pem: pem)
        let consumerKey = try await settings.settingOrCreate("server.consumer_key") { newConsumerKey() }
        let applicationId = try await settings.settingOrCreate("server.applinks_id") { SecureRandom.uuid() }
        let listed = try await settings.settingOrCreate(signingKeysSetting) { "[\"\(consumerInfoKeySetting)\"]" }
        var keys: [SigningKey] = []
        for name in (try? JSONDecoder().decode([String].self, from: Data(listed.utf8))) ?? [consumerInfoKeySetting] {
            if name == consumerInfoKeySetting {
                keys.append(try SigningKey(privateKey: key))
            } else if let text = try await settings.setting(name) {
                keys.append(try SigningKey(privateKey: try RSAPrivateKey(pem: text)))
            }
        }
        if keys.isEmpty { keys = [try SigningKey(privateKey: key)] }
        return ServerIdentity(consumerKey: consumerKey, publicKey: try key.publicKey(), applicationId: applicationId,
                              signingKeys: SigningKeys(keys))
    }

    /// A fresh identity that is kept nowhere (fixture mode: it lives as long as the process).
    static func generate() throws -> ServerIdentity {
        let key = try RSAPrivateKey(generatingBits: 2048)
        return ServerIdentity(consumerKey: newConsumerKey(), publicKey: try key.publicKey(), applicationId: SecureRandom.uuid(),
                              signingKeys: SigningKeys([try SigningKey(privateKey: key)]))
    }

    /// `linkgate:` and eight random digits.
    static func newConsumerKey() -> String {
        "linkgate:" + String(SecureRandom.bytes(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } % 100_000_000)
    }
}

/// The server's identity as the routes get it: ready at once (`serve` loads it at start), or
/// still being made in the background (fixture mode generates its RSA key while it starts;
/// the first page that shows the key waits for it).
struct IdentityCell: Sendable {
    private let task: Task<ServerIdentity, any Error>

    init(_ identity: ServerIdentity) { task = Task { identity } }
    init(making: Task<ServerIdentity, any Error>) { task = making }

    func value() async throws -> ServerIdentity { try await task.value }
}
