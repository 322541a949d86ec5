import Foundation
import Testing
@testable import LinkgateCrypto

@Suite("Digests, HMAC, random, encodings")
struct PrimitivesTests {
    @Test("SHA-256 and SHA-1 of 'abc' (FIPS 180-2 examples)")
    func digests() {
        #expect(Hex.encode(Digest.sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Hex.encode(Digest.sha1(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
    }

    @Test("HMAC-SHA256 (RFC 4231 case 2) and HMAC-SHA1 (RFC 2202 case 2)")
    func hmac() {
        let key = Array("Jefe".utf8), text = Array("what do ya want for nothing?".utf8)
        #expect(Hex.encode(HMAC.sha256(key: key, message: text)) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(Hex.encode(HMAC.sha1(key: key, message: text)) == "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
    }

    @Test("PKCE S256 of the RFC 7636 Appendix B verifier")
    func pkceVector() throws {
        let v = try Fixtures.load("pkce.json", as: Fixtures.PKCEVector.self)
        #expect(Base64URL.encode(Digest.sha256(v.code_verifier)) == v.code_challenge_S256)
    }

    @Test("constant-time comparison")
    func constantTime() {
        #expect(constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2]))
        #expect(constantTimeEquals([UInt8](), [UInt8]()))
        #expect(constantTimeEquals("secret", "secret"))
        #expect(!constantTimeEquals("secret", "Secret"))
    }

    @Test("tokens are 256-bit base64url and do not repeat")
    func tokens() {
        let tokens = (0..<1000).map { _ in SecureRandom.token() }
        #expect(Set(tokens).count == 1000)
        for token in tokens.prefix(20) {
            #expect(token.utf8.count == 43)
            #expect(token.utf8.allSatisfy(Base64URL.isAlphabet))
            #expect(Base64URL.decode(token)?.count == 32)
        }
        #expect(SecureRandom.hex(16).count == 32)
        let uuid = SecureRandom.uuid()
        #expect(uuid.count == 36 && Array(uuid)[14] == "4")
        #expect(SecureRandom.formatUUID(Array(0...15)) == "00010203-0405-0607-0809-0a0b0c0d0e0f")
        #expect(SecureRandom.formatUUID([UInt8](repeating: 0xAB, count: 16)) == "abababab-abab-abab-abab-abababababab")
    }

    @Test("time-ordered UUIDs (RFC 9562 §5.7): version 7, the millisecond time first, sorted by time, random after")
    func timeOrderedUUIDs() {
        // RFC 9562 Appendix A.6's example time: 0x017F22E279B0 ms = Tuesday, February 22, 2022 2:22:22.00 PM GMT-05:00.
        let example = SecureRandom.timeOrderedUUID(unixMilliseconds: 0x017F22E279B0)
        #expect(example.hasPrefix("017f22e2-79b0-7"))
        #expect(example.count == 36)
        let variant = Array(example)[19]
        #expect("89ab".contains(variant))
        let earlier = SecureRandom.timeOrderedUUID(unixMilliseconds: 1_764_633_600_000)
        let later = SecureRandom.timeOrderedUUID(unixMilliseconds: 1_764_633_600_001)
        #expect(earlier < later)
        #expect(SecureRandom.timeOrderedUUID(unixMilliseconds: 5) != SecureRandom.timeOrderedUUID(unixMilliseconds: 5))
        let now = SecureRandom.timeOrderedUUID()
        #expect(Array(now)[14] == "7" && now > earlier)
    }

    @Test("time-ordered tokens: 12 hex digits of milliseconds, then 256 random bits; their token keys ascend")
    func timeOrderedTokens() throws {
        let token = SecureRandom.timeOrderedToken(unixMilliseconds: 0x017F22E279B0)
        #expect(token.hasPrefix("017f22e279b0") && token.utf8.count == 55)
        #expect(token.utf8.allSatisfy(Base64URL.isAlphabet))
        #expect(Base64URL.decode(String(token.dropFirst(12)))?.count == 32)
        #expect(SecureRandom.timeOrderedToken(unixMilliseconds: 5) != SecureRandom.timeOrderedToken(unixMilliseconds: 5))
        // The key: the time prefix, then the SHA-256 of the whole token (RFC 6234 via libcrypto).
        let key = Digest.tokenKey(of: token)
        #expect(key == "017f22e279b0" + Base64URL.encode(Digest.sha256(token)))
        #expect(Digest.storageDigest(of: token) == Base64URL.encode(Digest.sha256(token)))  // client secrets, sessions: plain
        // Later tokens sort after earlier ones, whatever their random parts.
        let keys = (0..<200).map { Digest.tokenKey(of: SecureRandom.timeOrderedToken(unixMilliseconds: 1_764_633_600_000 + UInt64($0))) }
        #expect(keys == keys.sorted())
        #expect(SecureRandom.timeOrderedToken() > SecureRandom.timeOrderedToken(unixMilliseconds: 1_764_633_600_000))
        // Anything else, 43-character tokens and secrets of other shapes, keeps the plain digest.
        let plain = SecureRandom.token()
        #expect(Digest.tokenKey(of: plain) == Base64URL.encode(Digest.sha256(plain)))
        let almost = "017F22E279B0" + String(token.dropFirst(12))  // upper-case hex: not a time prefix
        #expect(Digest.tokenKey(of: almost).utf8.count == 43)
        #expect(Digest.tokenKey(of: String(token.dropLast())).utf8.count == 43)
        #expect(Digest.tokenKey(of: "").utf8.count == 43)
    }

    @Test("base64 and base64url round-trip; garbage is refused")
    func base64() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(($0 * 37 + 11) % 256) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
            #expect(Base64URL.decode(Base64URL.encodeStandard(bytes)) == bytes)
            #expect(Base64URL.encodeStandard(bytes) == Data(bytes).base64EncodedString())
        }
        #expect(Base64URL.decode("a") == nil)
        #expect(Base64URL.decode("ab=c") == nil)
        #expect(Base64URL.decode("ab cd") == nil)
        #expect(Base64URL.decode("abc===") == nil)
    }
}
