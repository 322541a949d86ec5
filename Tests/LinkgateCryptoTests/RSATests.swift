import Foundation
import Testing
@testable import LinkgateCrypto

@Suite("RSA keys and signatures")
struct RSATests {
    let vector: Fixtures.OAuth1Vector
    let message: [UInt8]
    let signature: [UInt8]

    init() throws {
        vector = try Fixtures.load("oauth1.json", as: Fixtures.OAuth1Vector.self)
        message = Array(vector.signature_base_string.utf8)
        signature = try #require(Base64URL.decode(vector.rsa_sha1.signature_base64))
    }

    @Test("the RFC 5849 vector's RSA-SHA1 signature verifies")
    func validVector() throws {
        let key = try RSAPublicKey(parsing: vector.rsa_sha1.public_key_pem)
        #expect(key.bits == 2048)
        #expect(key.verify(signature: signature, message: message, digest: .sha1))
    }

    @Test("flipping any byte of the base string fails", arguments: [0, 1, 50, 200, 400])
    func tamperedMessage(index: Int) throws {
        let key = try RSAPublicKey(parsing: vector.rsa_sha1.public_key_pem)
        var tampered = message
        let i = min(index, tampered.count - 1)
        tampered[i] ^= 0x01
        #expect(!key.verify(signature: signature, message: tampered, digest: .sha1))
    }

    @Test("a tampered, truncated or empty signature fails")
    func tamperedSignature() throws {
        let key = try RSAPublicKey(parsing: vector.rsa_sha1.public_key_pem)
        var flipped = signature
        flipped[10] ^= 0x80
        #expect(!key.verify(signature: flipped, message: message, digest: .sha1))
        #expect(!key.verify(signature: Array(signature.dropLast()), message: message, digest: .sha1))
        #expect(!key.verify(signature: [], message: message, digest: .sha1))
        #expect(!key.verify(signature: signature, message: message, digest: .sha256))
    }

    @Test("another key does not verify the vector")
    func wrongKey() throws {
        let other = try RSAPrivateKey(generatingBits: 2048).publicKey()
        #expect(!other.verify(signature: signature, message: message, digest: .sha1))
    }

    @Test("bare base64 DER SubjectPublicKeyInfo is accepted, with or without line breaks")
    func bareDER() throws {
        let body = Fixtures.base64Body(ofPEM: vector.rsa_sha1.public_key_pem)
        let key = try RSAPublicKey(parsing: body)
        #expect(key.verify(signature: signature, message: message, digest: .sha1))
        let wrapped = stride(from: 0, to: body.count, by: 64).map { i -> String in
            let start = body.index(body.startIndex, offsetBy: i)
            return String(body[start..<(body.index(start, offsetBy: 64, limitedBy: body.endIndex) ?? body.endIndex)])
        }.joined(separator: "\n")
        #expect(try RSAPublicKey(parsing: wrapped).verify(signature: signature, message: message, digest: .sha1))
    }

    @Test("PEM with CRLF line breaks (as browsers submit textareas) parses")
    func crlf() throws {
        let crlf = vector.rsa_sha1.public_key_pem.replacingOccurrences(of: "\n", with: "\r\n")
        #expect(try RSAPublicKey(parsing: crlf).verify(signature: signature, message: message, digest: .sha1))
        #expect(try RSAPublicKey(pem: crlf).bits == 2048)
        #expect(throws: CryptoError.privateKeyOffered) {
            try RSAPublicKey(parsing: vector.rsa_sha1.private_key_pem.replacingOccurrences(of: "\n", with: "\r\n"))
        }
    }

    @Test("a PEM certificate's public key is used")
    func certificate() throws {
        let key = try RSAPublicKey(parsing: Fixtures.vectorCertificatePEM)
        #expect(key.verify(signature: signature, message: message, digest: .sha1))
    }

    @Test("a private key offered as public is refused, as PEM and as bare DER")
    func privateKeyOffered() throws {
        let pem = vector.rsa_sha1.private_key_pem
        #expect(throws: CryptoError.privateKeyOffered) { try RSAPublicKey(parsing: pem) }
        let der = Fixtures.base64Body(ofPEM: pem)
        #expect(throws: CryptoError.privateKeyOffered) { try RSAPublicKey(parsing: der) }
    }

    @Test("garbage and damaged keys are malformed", arguments: [
        "", "hello", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA",
        "-----BEGIN FOO-----\nAAAA\n-----END FOO-----", "%%%%",
    ])
    func malformed(text: String) {
        #expect(throws: CryptoError.self) { try RSAPublicKey(parsing: text) }
        do {
            _ = try RSAPublicKey(parsing: text)
        } catch let error as CryptoError {
            #expect(error.code == .malformedKey)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("an oversized key text is refused without parsing")
    func oversized() {
        #expect(throws: CryptoError.self) { try RSAPublicKey(parsing: String(repeating: "A", count: 20_000)) }
    }

    @Test("a truncated PEM body is malformed")
    func truncatedPEM() {
        let pem = vector.rsa_sha1.public_key_pem
        let cut = String(pem.prefix(pem.count / 2)) + "\n-----END PUBLIC KEY-----\n"
        #expect(throws: CryptoError.self) { try RSAPublicKey(parsing: cut) }
    }

    @Test("a non-RSA key is refused")
    func notRSA() {
        #expect(throws: CryptoError.notRSA) { try RSAPublicKey(parsing: Fixtures.ecPublicKeyPEM) }
    }

    @Test("keys under the minimum size are refused")
    func tooSmall() throws {
        let small = try RSAPrivateKey(generatingBits: 512).publicKey()
        #expect(small.bits == 512)
        do {
            _ = try RSAPublicKey(parsing: small.pem, minimumBits: 1024)
            Issue.record("a 512-bit key was accepted")
        } catch let error as CryptoError {
            #expect(error.code == .keyTooSmall)
        }
        #expect(throws: CryptoError.self) { try RSAPublicKey(parsing: vector.rsa_sha1.public_key_pem, minimumBits: 4096) }
    }

    @Test("RSA-SHA256 (RS256) signatures round-trip and bind the message")
    func sha256RoundTrip() throws {
        let privateKey = try RSAPrivateKey(generatingBits: 2048)
        let publicKey = try privateKey.publicKey()
        let text = Array("header.payload".utf8)
        let sig = try privateKey.sign(message: text, digest: .sha256)
        #expect(sig.count == 256)
        #expect(publicKey.verify(signature: sig, message: text, digest: .sha256))
        #expect(!publicKey.verify(signature: sig, message: text, digest: .sha1))
        #expect(!publicKey.verify(signature: sig, message: Array("header.payloae".utf8), digest: .sha256))
    }

    @Test("signing the vector's base string with the vector's private key gives the vector's signature")
    func deterministicSignature() throws {
        let privateKey = try RSAPrivateKey(pem: vector.rsa_sha1.private_key_pem)
        #expect(try privateKey.sign(message: message, digest: .sha1) == signature)
    }

    @Test("a generated key pair exports PEM and base64 DER that parse back")
    func exportRoundTrip() throws {
        let privateKey = try RSAPrivateKey(generatingBits: 2048)
        #expect(privateKey.pem.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let publicKey = try privateKey.publicKey()
        #expect(publicKey.pem.hasPrefix("-----BEGIN PUBLIC KEY-----"))
        let again = try RSAPublicKey(parsing: publicKey.base64DER)
        #expect(again.pem == publicKey.pem)
        let reloaded = try RSAPrivateKey(pem: privateKey.pem)
        let sig = try reloaded.sign(message: [1, 2, 3], digest: .sha1)
        #expect(publicKey.verify(signature: sig, message: [1, 2, 3], digest: .sha1))
    }

    @Test("the start-up self-test passes on this platform")
    func selfTest() throws {
        try CryptoSelfTest.run()
    }
}
