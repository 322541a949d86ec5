// PEM / base64 DER / raw DER public keys (LinkgateCrypto/RSAPublicKey), as consumers paste them.
// Invariants: an accepted key is RSA of at least the minimum size, and its PEM and base64 DER
// forms parse back to the same key (same DER, same size); a private key is never accepted.
import FuzzSupport
import LinkgateCrypto

func checkRoundTrip(_ key: RSAPublicKey, minimumBits: Int) {
    require(key.bits >= minimumBits, "key of \(key.bits) bits accepted")
    let der = key.base64DER
    require(!der.isEmpty, "accepted key has no DER form")
    guard let fromPEM = try? RSAPublicKey(parsing: key.pem, minimumBits: minimumBits),
          let fromDER = try? RSAPublicKey(parsing: der, minimumBits: minimumBits) else {
        fatalError("an accepted key's own PEM or DER does not parse")
    }
    require(fromPEM.base64DER == der && fromDER.base64DER == der, "PEM/DER round trip changed the key")
    require(fromPEM.bits == key.bits && fromDER.bits == key.bits)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPublicKey(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // The first byte picks the minimum size, as the server's settings might.
    let minimumBits = (bytes.first ?? 0) & 1 == 0 ? 1024 : 2048
    let text = String(decoding: bytes, as: UTF8.self)
    if let key = try? RSAPublicKey(parsing: text, minimumBits: minimumBits) {
        require(!text.contains("PRIVATE KEY"), "a private key PEM was accepted")
        checkRoundTrip(key, minimumBits: minimumBits)
    }
    if let key = try? RSAPublicKey(der: bytes, minimumBits: minimumBits) {
        checkRoundTrip(key, minimumBits: minimumBits)
    }
    return 0
}
