// JWT bearer assertions (RFC 7523; OAuth2/JWTAssertion): the compact JWS parse and the claim
// accessors, and the RS256 verification.
// Invariants: an accepted assertion has three base64url parts, alg RS256, no `crit`, a
// signing input equal to the first two parts, a signature that re-encodes to the third part
// (as base64url); claim accessors never trap; only a signature of the key's size verifies.
import FuzzSupport
import LinkgateCore
@testable import LinkgateCrypto
@testable import OAuth2

/// The RSA key of /work/shared/vectors/oauth1.json, which the start-up self-test already
/// carries (its private half signs the seed assertions); mutations of their signing input must not verify.
let verifierKey = try! RSAPublicKey(parsing: CryptoSelfTest.publicKeyPEM)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJWTAssertion(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)

    // Base64url, which the assertion's parts use: decode(encode(x)) == x for any bytes.
    require(Base64URL.decode(Base64URL.encode(bytes)) == bytes, "base64url round trip failed")
    require(Base64URL.decode(Base64URL.encodeStandard(bytes)) == bytes, "base64 round trip failed")

    guard let assertion = try? JWTAssertion.parse(text) else { return 0 }
    require(text.utf8.count <= JWTAssertion.maximumLength)
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    require(parts.count == 3 && assertion.algorithm == "RS256")
    require(assertion.signingInput == Array((parts[0] + "." + parts[1]).utf8))
    require(Base64URL.decode(parts[2]) == assertion.signature)
    for name in ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"] {
        _ = assertion.string(name)
        if let number = assertion.number(name) { require(abs(number) < 1_000_000_000_000_000) }
    }
    require(assertion.audiences.count <= assertion.claims.count * 8192)
    if assertion.verify(with: verifierKey) {
        require(assertion.signature.count == verifierKey.bits / 8, "a signature of the wrong size verified")
    }
    return 0
}
