import LinkgateCore
import LinkgateCrypto

/// This server's own identity as an application-link peer: a 2048-bit RSA key and a consumer
/// key (for consumer-info), and a stable applinks id (for the manifest). Made on first start, kept.
struct ServerIdentity: Sendable {
    let consumerKey: String
    let publicKey: RSAPublicKey
    let applicationId: String

    static func load(from settings: any SettingsStore) async throws -> ServerIdentity {
        let pem = try await settings.settingOrCreate("server.rsa_private_key") { try RSAPrivateKey(generatingBits: 2048).pem }
        let key = try RSAPrivateKey(pem: pem)
        let consumerKey = try await settings.settingOrCreate("server.consumer_key") {
            "linkgate:" + String(SecureRandom.bytes(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } % 100_000_000)
        }
        let applicationId = try await settings.settingOrCreate("server.applinks_id") { SecureRandom.uuid() }
        return ServerIdentity(consumerKey: consumerKey, publicKey: try key.publicKey(), applicationId: applicationId)
    }
}
