import CLibCrypto

/// An RSA private key: the server's own key (OAuth 1.0a consumer-info) and test signers.
public final class RSAPrivateKey: @unchecked Sendable {
    let pkey: OpaquePointer
    private let contexts: PreparedDigestContexts

    /// Generates a fresh key pair of `bits` bits (the server's own key is 2048, INTERFACE §7).
    public init(generatingBits bits: Int = 2048) throws {
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, "RSA", nil) else {
            throw CryptoError(code: .keyGenerationFailed, message: "RSA key generation is unavailable")
        }
        defer { EVP_PKEY_CTX_free(ctx) }
        var key: OpaquePointer? = nil
        guard EVP_PKEY_keygen_init(ctx) == 1,
              EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, Int32(bits)) == 1,
              EVP_PKEY_generate(ctx, &key) == 1, let key else {
            ERR_clear_error()
            throw CryptoError(code: .keyGenerationFailed, message: "RSA key generation failed")
        }
        self.pkey = key
        contexts = PreparedDigestContexts(pkey: key, for: .sign)
    }

    /// Loads a PEM private key (PKCS#8 or PKCS#1).
    public init(pem: String) throws {
        let key: OpaquePointer? = try withMemoryBIO(pem) { PEM_read_bio_PrivateKey($0, nil, nil, nil) }
        guard let key else {
            ERR_clear_error()
            throw CryptoError.malformedKey("not a valid private key")
        }
        guard linkgate_evp_pkey_is_rsa(key) == 1 else {
            EVP_PKEY_free(key)
            throw CryptoError.notRSA
        }
        self.pkey = key
        contexts = PreparedDigestContexts(pkey: key, for: .sign)
    }

    deinit { EVP_PKEY_free(pkey) }

    /// PKCS#8 PEM of the private key. Store it with care.
    public var pem: String {
        writeToMemoryBIO { PEM_write_bio_PrivateKey($0, pkey, nil, nil, 0, nil, nil) }
    }

    /// The matching public key.
    public func publicKey() throws -> RSAPublicKey {
        let text = writeToMemoryBIO { PEM_write_bio_PUBKEY($0, pkey) }
        return try RSAPublicKey(pem: text, minimumBits: 0)
    }

    /// RSASSA-PKCS1-v1_5 signature (RFC 8017 §8.2.1) of `message`.
    public func sign(message: some Collection<UInt8>, digest: RSADigest) throws -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: Int(EVP_PKEY_get_size(pkey)))
        var length = signature.count
        let ok = contexts.withContext(for: digest) { ctx in
            withContiguousBytes(of: message) { tbs in EVP_DigestSignUpdate(ctx, tbs.baseAddress, tbs.count) } == 1
                && signature.withUnsafeMutableBufferPointer { EVP_DigestSignFinal(ctx, $0.baseAddress, &length) } == 1
        }
        guard ok == true else {
            ERR_clear_error()
            throw CryptoError(code: .signingFailed, message: "signing failed")
        }
        return Array(signature.prefix(length))
    }
}
