import Foundation
import LinkgateCore
import LinkgateCrypto
import Logging
import OAuth2

/// The id_token signing keys as the settings keep them (INTERFACE §14). `oidc.signing_keys` is a
/// JSON array naming, oldest first, the settings that hold each key's PEM. The first entry is §7's
/// consumer-info key, a plain name (`"server.rsa_private_key"`); `linkgate keys rotate` appends
/// `{"setting": "oidc.signing_key.<kid>", "createdAt": <epoch seconds>}` and changes nothing else,
/// so the consumer-info key stays. A key is superseded when the next entry was created.
public enum SigningKeyList {
    static let setting = "oidc.signing_keys"
    static let consumerInfoKeySetting = "server.rsa_private_key"

    struct Entry: Codable, Equatable {
        let setting: String
        let createdAt: Int64?

        enum CodingKeys: String, CodingKey { case setting, createdAt }

        init(setting: String, createdAt: Int64?) {
            self.setting = setting
            self.createdAt = createdAt
        }

        init(from decoder: any Decoder) throws {
            if let name = try? decoder.singleValueContainer().decode(String.self) {
                self.init(setting: name, createdAt: nil)
                return
            }
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.init(setting: try container.decode(String.self, forKey: .setting),
                      createdAt: try container.decodeIfPresent(Int64.self, forKey: .createdAt))
        }

        func encode(to encoder: any Encoder) throws {
            guard let createdAt else {
                var container = encoder.singleValueContainer()
                try container.encode(setting)
                return
            }
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(setting, forKey: .setting)
            try container.encode(createdAt, forKey: .createdAt)
        }
    }

    /// The list's entries; a list that cannot be read names just the consumer-info key.
    static func entries(_ text: String) -> [Entry] {
        let entries = (try? JSONDecoder().decode([Entry].self, from: Data(text.utf8))) ?? []
        return entries.isEmpty ? [Entry(setting: consumerInfoKeySetting, createdAt: nil)] : entries
    }

    static func text(_ entries: [Entry]) throws -> String {
        String(decoding: try JSONEncoder().encode(entries), as: UTF8.self)
    }

    /// The listed keys, oldest first (the list is made on first start). `known` holds keys already
    /// parsed, by setting name, so a reload parses only new PEMs; it is returned updated.
    static func load(from settings: any SettingsStore, consumerInfoKey: SigningKey,
                     known: [String: SigningKey] = [:]) async throws -> (SigningKeys, known: [String: SigningKey]) {
        let listed = try await settings.settingOrCreate(setting) { try text([Entry(setting: consumerInfoKeySetting, createdAt: nil)]) }
        var keys: [SigningKey] = []
        var parsed: [String: SigningKey] = [:]
        for entry in entries(listed) {
            if entry.setting == consumerInfoKeySetting {
                keys.append(consumerInfoKey)
            } else if let key = known[entry.setting] {
                keys.append(key)
                parsed[entry.setting] = key
            } else if let pem = try await settings.setting(entry.setting) {
                let key = try SigningKey(privateKey: try RSAPrivateKey(pem: pem), createdAt: entry.createdAt)
                keys.append(key)
                parsed[entry.setting] = key
            }
        }
        return (SigningKeys(keys.isEmpty ? [consumerInfoKey] : keys), parsed)
    }

    /// What `linkgate keys rotate` reports about the key it added.
    public struct RotatedKey: Sendable {
        public let kid: String
        public let createdAt: Int64
    }

    /// Adds a new RSA-2048 signing key at `now` (INTERFACE §14): its PEM in a setting of its own,
    /// then appended to the list with compare-and-set, so concurrent rotations both land.
    public static func rotate(settings: any SettingsStore, now: Int64) async throws -> RotatedKey {
        // On a database no server has started on yet, this makes the consumer-info key and the list first.
        _ = try await ServerIdentity.load(from: settings)
        let privateKey = try RSAPrivateKey(generatingBits: 2048)
        let key = try SigningKey(privateKey: privateKey, createdAt: now)
        let name = "oidc.signing_key." + key.kid
        _ = try await settings.settingOrCreate(name) { privateKey.pem }
        for _ in 0..<20 {
            guard let listed = try await settings.setting(setting) else { break }
            let updated = entries(listed) + [Entry(setting: name, createdAt: now)]
            if try await settings.replaceSetting(setting, expected: listed, with: try text(updated)) {
                return RotatedKey(kid: key.kid, createdAt: now)
            }
        }
        throw StoreError.conflict("the signing key list kept changing; try again")
    }
}

/// The signing keys a running server uses (INTERFACE §14, §11): re-read from the settings at
/// most every `refreshInterval` (at most 60 s), so every node on the database picks up a
/// rotation within that time, whichever process made it. Until the first re-read, and whenever
/// one fails, the keys last read are used.
actor SigningKeyRing {
    private let settings: any SettingsStore
    private let consumerInfoKey: SigningKey
    private let refreshInterval: Duration
    private let logger: Logger
    private var keys: SigningKeys
    private var known: [String: SigningKey] = [:]
    private var loadedAt = ContinuousClock.now

    init(settings: any SettingsStore, consumerInfoKey: SigningKey, initial: SigningKeys, refreshInterval: Duration, logger: Logger) {
        self.settings = settings
        self.consumerInfoKey = consumerInfoKey
        self.refreshInterval = refreshInterval
        self.logger = logger
        keys = initial
    }

    func current() async -> SigningKeys {
        let now = ContinuousClock.now
        guard now - loadedAt >= refreshInterval else { return keys }
        loadedAt = now
        do {
            let (reloaded, parsed) = try await SigningKeyList.load(from: settings, consumerInfoKey: consumerInfoKey, known: known)
            keys = reloaded
            known = parsed
        } catch {
            logger.warning("cannot re-read the id_token signing keys; using the ones read before", metadata: ["error": "\(error)"])
        }
        return keys
    }
}
