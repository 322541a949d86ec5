import LinkgateCore
import LinkgateCrypto
import Testing
@testable import OAuth2

/// The key-list rules of `linkgate keys rotate` (INTERFACE §14): the newest key signs; an older
/// key stays in the JWKS until every id_token it signed has expired, then drops out.
@Suite("id_token signing key rotation (INTERFACE §14)")
struct SigningKeyRotationTests {
    static let lifetime: Int64 = 3600
    static let margin = SigningKeys.retirementMargin
    /// The consumer-info key (no creation time) and two keys rotated in at 10_000 and 12_000 (within one token lifetime).
    static let first = Harness.signingKey
    static let second = try! SigningKey(privateKey: RSAPrivateKey(generatingBits: 2048), createdAt: 10_000)
    static let third = try! SigningKey(privateKey: RSAPrivateKey(generatingBits: 2048), createdAt: 12_000)

    func kids(_ keys: [SigningKey]) -> [String] { keys.map(\.kid) }

    @Test("one key: it signs and is published, whatever the time")
    func single() {
        let keys = SigningKeys([Self.first])
        #expect(keys.current.kid == Self.first.kid)
        #expect(kids(keys.published(at: 0, tokenLifetime: Self.lifetime)) == [Self.first.kid])
        #expect(kids(keys.published(at: 1 << 40, tokenLifetime: Self.lifetime)) == [Self.first.kid])
    }

    @Test("after a rotation the newest key signs, and the id_token names it in its kid")
    func newestSigns() throws {
        let keys = SigningKeys([Self.first, Self.second])
        #expect(keys.current.kid == Self.second.kid)
        let token = try DecodedIDToken(try IDToken.sign(["sub": .string("u")], with: keys.current), key: keys.current)
        #expect(token.header["kid"] == .string(Self.second.kid))
    }

    @Test("the old key is published until its last id_token has expired (plus the margin), then dropped")
    func oldKeyKeptUntilItsTokensExpire() {
        let keys = SigningKeys([Self.first, Self.second])
        let supersededAt = Self.second.createdAt!
        // The last id_token the old key signed (at supersededAt, or up to the pick-up delay later) expires at supersededAt + lifetime.
        let lastExpiry = supersededAt + Self.lifetime
        for now in [supersededAt, supersededAt + 1, lastExpiry, lastExpiry + Self.margin - 1] {
            #expect(kids(keys.published(at: now, tokenLifetime: Self.lifetime)) == [Self.first.kid, Self.second.kid], "at \(now)")
        }
        #expect(kids(keys.published(at: lastExpiry + Self.margin, tokenLifetime: Self.lifetime)) == [Self.second.kid])
        // A longer token lifetime keeps the old key longer.
        #expect(kids(keys.published(at: lastExpiry + Self.margin, tokenLifetime: 2 * Self.lifetime)) == [Self.first.kid, Self.second.kid])
    }

    @Test("each old key is dropped on its own schedule, counted from when the next key was added")
    func threeKeys() {
        let keys = SigningKeys([Self.first, Self.second, Self.third])
        #expect(keys.current.kid == Self.third.kid)
        let firstGone = Self.second.createdAt! + Self.lifetime + Self.margin
        let secondGone = Self.third.createdAt! + Self.lifetime + Self.margin
        #expect(kids(keys.published(at: Self.third.createdAt!, tokenLifetime: Self.lifetime)) == kids(keys.keys))
        #expect(kids(keys.published(at: firstGone, tokenLifetime: Self.lifetime)) == [Self.second.kid, Self.third.kid])
        #expect(kids(keys.published(at: secondGone, tokenLifetime: Self.lifetime)) == [Self.third.kid])
    }

    @Test("a key whose successor has no creation time is kept (nothing says when it stopped signing)")
    func unknownSupersessionKeeps() throws {
        let undated = try SigningKey(privateKey: RSAPrivateKey(generatingBits: 2048))
        let keys = SigningKeys([Self.first, undated])
        #expect(kids(keys.published(at: 1 << 40, tokenLifetime: Self.lifetime)) == [Self.first.kid, undated.kid])
    }
}
