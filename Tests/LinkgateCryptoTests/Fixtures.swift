import Foundation

/// Test data: the shared vectors (../shared/vectors beside the repository, or $LINKGATE_VECTORS),
/// plus keys made for these tests.
enum Fixtures {
    static var vectorsFolder: URL {
        if let path = ProcessInfo.processInfo.environment["LINKGATE_VECTORS"] { return URL(fileURLWithPath: path) }
        // Tests/LinkgateCryptoTests/Fixtures.swift → repository root → ../shared/vectors
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/vectors")
    }

    struct OAuth1Vector: Decodable {
        struct RSA: Decodable {
            let public_key_pem: String
            let private_key_pem: String
            let signature_base64: String
        }
        let signature_base_string: String
        let rsa_sha1: RSA
    }

    struct PKCEVector: Decodable {
        let code_verifier: String
        let code_challenge_S256: String
    }

    static func load<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        let url = vectorsFolder.appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw VectorsMissing(path: url.path)
        }
        return try JSONDecoder().decode(T.self, from: data)
    }

    struct VectorsMissing: Error, CustomStringConvertible {
        let path: String
        var description: String { "test vectors not found at \(path); set LINKGATE_VECTORS to the shared/vectors folder" }
    }

    /// A self-signed certificate (openssl req -x509) over the oauth1.json vector's key pair.
    static let vectorCertificatePEM = """
-----BEGIN CERTIFICATE-----
MIIDITCCAgmgAwIBAgIUabQ+VDeW7tQrD3E8w4hajbV4LwwwDQYJKoZIhvcNAQEL
BQAwHzEdMBsGA1UEAwwUbGlua2dhdGUtdGVzdC12ZWN0b3IwIBcNMjYxMTIyMjMx
MDQ3WhgPMjEyNjEwMjkyMzEwNDdaMB8xHTAbBgNVBAMMFGxpbmtnYXRlLXRlc3Qt
dmVjdG9yMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxN1bDbBwYMn3
l9IOfOcKLtrNcyCPNnne4roK9Dz5KY7bBKSLdqdH54iw6lPu6AoY/qncdJEmhDoL
9CEp5vpbcjEplIVzefMoSIvOz/2PCJebijpFEi6oVTnRbtWAvMvmhzJ3L95CLbs2
xchyKIWjOQK1vfvOvH7SqnynsUSnJJ2rSsA7vGtQwyL+eq2DIJgDZXUCUncqggG8
zn2cnZSGAJIhqmxDRHr8Pks18c6MpfgRlzoVunTTPL2VI8q7l9rbinLyTnyfvf8T
bzSj1EhjZAyNfvj00TAHp7yQZhlV5R62wwbeywFwaExzxn5QTFOawbxxmM3qrCQz
cBeamECyjwIDAQABo1MwUTAdBgNVHQ4EFgQUmc2YSBNxY9lehmkhdb/lBA+GYSYw
HwYDVR0jBBgwFoAUmc2YSBNxY9lehmkhdb/lBA+GYSYwDwYDVR0TAQH/BAUwAwEB
/zANBgkqhkiG9w0BAQsFAAOCAQEAX+657XwqWVgcXlIB2xYI1tYUS8EBBpPAratr
/OPOJwnm9e/4if1/Yonls05R4lgGDZGkzjn5V47JijW0qteMeP1Ib6tyQNBWR4Vr
K5a3sUc9PrWsIWAvo9TDwvjBYbnbRoSysvrZLVVf4QXPBo6jWuZLkxESrmR9vM06
eD03f6nGGPGrEPGQa3kqPbtqpsHWmdt0jjds7lDmOOGYVOLkUhfGAOXaXUdBCv7X
UHnDArAWyARTlUAsaw4IpJzWsy3HFbSv86Nd4xzR4C6ZOoPzRqN5Eq4VO1r2Vik9
kNIPYVZSfM5HkQBiII4JObG2i+l/wpHPRkDLfDBdan2MpI8LjA==
-----END CERTIFICATE-----
"""

    /// A P-256 (EC) public key: not RSA.
    static let ecPublicKeyPEM = """
-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQoH8XKYfO+eG4GWQ5IdpOpHqkJLE
zkSy+oir36yxoCsw3Nq8Y+L7j3+xdTyNxDxcy2/jVd/KGCJ7Mwiv9cwoVw==
-----END PUBLIC KEY-----
"""

    /// The body of a PEM block, as bare base64.
    static func base64Body(ofPEM pem: String) -> String {
        pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
    }
}
