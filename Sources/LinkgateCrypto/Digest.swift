import CLibCrypto

/// Message digests through `EVP_Digest`.
public enum Digest {
    public static func sha256(_ data: some Collection<UInt8>) -> [UInt8] { digest(data, EVP_sha256()) }
    public static func sha1(_ data: some Collection<UInt8>) -> [UInt8] { digest(data, EVP_sha1()) }
    public static func sha256(_ string: String) -> [UInt8] { sha256(Array(string.utf8)) }

    /// SHA-256 of a secret, base64url: the form in which tokens, codes, client secrets and
    /// session ids are stored (INTERFACE §1: never stored raw).
    public static func storageDigest(of secret: String) -> String {
        Base64URL.encode(sha256(Array(secret.utf8)))
    }

    /// The key an OAuth 2.0 access or refresh token or authorization code is stored and looked
    /// up under: `storageDigest(of:)`, and for a time-ordered token
    /// (`SecureRandom.timeOrderedToken`) its time prefix in front, so that keys ascend. Such a
    /// key has 55 characters and a plain one 43, so the two never collide; tokens issued before
    /// time-ordered ones keep their plain keys. Not for client secrets, which an admin may choose.
    public static func tokenKey(of token: String) -> String {
        let digest = storageDigest(of: token)
        guard let prefix = SecureRandom.timePrefix(of: token) else { return digest }
        return prefix + digest
    }

    private static func digest(_ data: some Collection<UInt8>, _ md: OpaquePointer?) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let bytes = Array(data)
        let ok = bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBufferPointer { output in
                EVP_Digest(input.baseAddress, input.count, output.baseAddress, &length, md, nil)
            }
        }
        precondition(ok == 1, "EVP_Digest failed")
        return Array(out.prefix(Int(length)))
    }
}

/// HMAC (RFC 2104) through OpenSSL's one-shot `HMAC`.
public enum HMAC {
    public static func sha256(key: some Collection<UInt8>, message: some Collection<UInt8>) -> [UInt8] {
        compute(EVP_sha256(), key: Array(key), message: Array(message))
    }
    public static func sha1(key: some Collection<UInt8>, message: some Collection<UInt8>) -> [UInt8] {
        compute(EVP_sha1(), key: Array(key), message: Array(message))
    }

    private static func compute(_ md: OpaquePointer?, key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let result = key.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                out.withUnsafeMutableBufferPointer { o in
                    CLibCrypto.HMAC(md, k.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(k.count),
                                    m.baseAddress?.assumingMemoryBound(to: UInt8.self), m.count,
                                    o.baseAddress, &length)
                }
            }
        }
        precondition(result != nil, "HMAC failed")
        return Array(out.prefix(Int(length)))
    }
}

/// Constant-time comparison through `CRYPTO_memcmp`. Different lengths compare unequal
/// (lengths of digests are public).
public func constantTimeEquals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
    let x = Array(a), y = Array(b)
    guard x.count == y.count else { return false }
    if x.isEmpty { return true }
    return x.withUnsafeBytes { p in y.withUnsafeBytes { q in CRYPTO_memcmp(p.baseAddress, q.baseAddress, x.count) == 0 } }
}

/// Constant-time comparison of two strings' UTF-8 bytes.
public func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    constantTimeEquals(Array(a.utf8), Array(b.utf8))
}
