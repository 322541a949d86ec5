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
    /// The consumer-info key as an id_token signing key; nil where the keys are never re-read (fixture mode).
    var consumerInfoSigningKey: SigningKey? = nil

    static let signingKeysSetting = SigningKeyList.setting
    static let consumerInfoKeySetting = SigningKeyList.consumerInfoKeySetting

    static func load(from settings: any SettingsStore) async throws -> ServerIdentity {
        let pem = try await settings.settingOrCreate(consumerInfoKeySetting) { try RSAPrivateKey(generatingBits: 2048).pem }
        let key = try RSAPrivateKey(pem: pem)
        let consumerKey = try await settings.settingOrCreate("server.consumer_key") { newConsumerKey() }
        let applicationId = try await settings.settingOrCreate("server.applinks_id") { SecureRandom.uuid() }
        let consumerInfoKey = try SigningKey(privateKey: key)
        let (signingKeys, _) = try await SigningKeyList.load(from: settings, consumerInfoKey: consumerInfoKey)
        return ServerIdentity(consumerKey: consumerKey, publicKey: try key.publicKey(), applicationId: applicationId,
                              signingKeys: signingKeys, consumerInfoSigningKey: consumerInfoKey)
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
