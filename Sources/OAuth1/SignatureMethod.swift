import LinkgateCore
import LinkgateCrypto

/// The RSA signature methods a consumer may use (INTERFACE §7). `RSA-SHA1` is RFC 5849 §3.4.3;
/// `RSA-SHA256` and `RSA-SHA512` are the same PKCS#1 v1.5 scheme with a stronger digest, opted
/// into per consumer for clients whose platform forbids SHA-1 signing (atlassian-python-api signs
/// RSA-SHA512 by default).
public enum SignatureMethod: String, Sendable, CaseIterable, Equatable {
    case rsaSHA1 = "RSA-SHA1"
    case rsaSHA256 = "RSA-SHA256"
    case rsaSHA512 = "RSA-SHA512"

    /// A consumer's methods when none are given.
    public static let defaults: [SignatureMethod] = [.rsaSHA1]

    /// The digest libcrypto verifies with.
    public var digest: RSADigest {
        switch self {
        case .rsaSHA1: .sha1
        case .rsaSHA256: .sha256
        case .rsaSHA512: .sha512
        }
    }

    /// Parses a consumer's `signatureMethods`: non-empty, each exactly one of the three names, no duplicates.
    public static func list(_ names: [String]) throws -> [SignatureMethod] {
        guard !names.isEmpty else { throw ValidationError("signatureMethods", "must name at least one method") }
        var methods: [SignatureMethod] = []
        for name in names {
            guard let method = SignatureMethod(rawValue: name) else {
                throw ValidationError("signatureMethods", "'\(name.prefix(40))' is not one of RSA-SHA1, RSA-SHA256, RSA-SHA512")
            }
            guard !methods.contains(method) else { throw ValidationError("signatureMethods", "names \(name) twice") }
            methods.append(method)
        }
        return methods
    }

    /// The stored form: names joined by spaces.
    public static func storageText(_ methods: [SignatureMethod]) -> String {
        methods.map(\.rawValue).joined(separator: " ")
    }

    /// Reads the stored form; anything unreadable falls back to the defaults.
    public static func fromStorage(_ text: String?) -> [SignatureMethod] {
        let methods = (text ?? "").split(separator: " ").compactMap { SignatureMethod(rawValue: String($0)) }
        return methods.isEmpty ? defaults : methods
    }
}
