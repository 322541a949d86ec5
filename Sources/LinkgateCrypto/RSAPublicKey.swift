import CLibCrypto

/// Signature digests supported for RSA PKCS#1 v1.5 verification.
public enum RSADigest: String, Sendable, CaseIterable {
    /// OAuth 1.0a `RSA-SHA1` (RFC 5849 §3.4.3).
    case sha1 = "SHA1"
    /// JWT `RS256` (RFC 7518 §3.3).
    case sha256 = "SHA256"
    /// OAuth 1.0a `RSA-SHA512` (opt-in per consumer, INTERFACE §7).
    case sha512 = "SHA512"
}

/// An RSA public key held by OpenSSL, parsed once and reused for every verification.
///
/// Verification only reads the key, which OpenSSL 3 allows from several threads at once.
public final class RSAPublicKey: @unchecked Sendable {
    let pkey: OpaquePointer
    private let contexts: PreparedDigestContexts

    /// Key size in bits.
    public let bits: Int

    /// Parses a public key from PEM (`PUBLIC KEY` or `CERTIFICATE`) or bare base64 DER
    /// SubjectPublicKeyInfo, as Atlassian consumers paste it. Rejects private keys,
    /// non-RSA keys, keys under `minimumBits`, and garbage.
    public convenience init(parsing text: String, minimumBits: Int = 1024) throws {
        // Browsers submit textareas with CRLF line breaks; "\r\n" is one Character in Swift.
        let trimmed = String(text.unicodeScalars.filter { $0 != "\r" }).trimmingWhitespace()
        guard !trimmed.isEmpty, trimmed.utf8.count <= 16_384 else { throw CryptoError.malformedKey() }
        if trimmed.hasPrefix("-----BEGIN") {
            try self.init(pem: trimmed, minimumBits: minimumBits)
        } else {
            // Bare base64 DER; line breaks are allowed inside it.
            let compact = String(trimmed.unicodeScalars.filter { !$0.properties.isWhitespace })
            guard let der = Base64URL.decode(compact), !der.isEmpty else { throw CryptoError.malformedKey() }
            try self.init(der: der, minimumBits: minimumBits)
        }
    }

    /// Parses PEM text.
    public convenience init(pem text: String, minimumBits: Int = 1024) throws {
        let pem = String(text.unicodeScalars.filter { $0 != "\r" })
        let header = pem.prefix(while: { $0 != "\n" })
        if header.contains("PRIVATE KEY") { throw CryptoError.privateKeyOffered }
        let pkey: OpaquePointer? = try withMemoryBIO(pem) { bio in
            if header == "-----BEGIN PUBLIC KEY-----" {
                return PEM_read_bio_PUBKEY(bio, nil, nil, nil)
            } else if header == "-----BEGIN CERTIFICATE-----" {
                guard let cert = PEM_read_bio_X509(bio, nil, nil, nil) else { return nil }
                defer { X509_free(cert) }
                return X509_get_pubkey(cert)
            } else if header == "-----BEGIN RSA PUBLIC KEY-----" {
                throw CryptoError.malformedKey("PKCS#1 'RSA PUBLIC KEY' is not accepted: give the SubjectPublicKeyInfo ('PUBLIC KEY') form")
            }
            throw CryptoError.malformedKey("unrecognised PEM type")
        }
        guard let pkey else {
            ERR_clear_error()
            throw CryptoError.malformedKey()
        }
        try self.init(taking: pkey, minimumBits: minimumBits)
    }

    /// Parses DER SubjectPublicKeyInfo.
    public convenience init(der: [UInt8], minimumBits: Int = 1024) throws {
        let pkey: OpaquePointer? = der.withUnsafeBufferPointer { buf in
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            return d2i_PUBKEY(nil, &p, buf.count)
        }
        guard let pkey else {
            ERR_clear_error()
            if Self.isPrivateKeyDER(der) { throw CryptoError.privateKeyOffered }
            throw CryptoError.malformedKey()
        }
        try self.init(taking: pkey, minimumBits: minimumBits)
    }

    init(taking pkey: OpaquePointer, minimumBits: Int) throws {
        guard linkgate_evp_pkey_is_rsa(pkey) == 1 else {
            EVP_PKEY_free(pkey)
            throw CryptoError.notRSA
        }
        let bits = Int(EVP_PKEY_get_bits(pkey))
        guard bits >= minimumBits else {
            EVP_PKEY_free(pkey)
            throw CryptoError.keyTooSmall(bits: bits, minimum: minimumBits)
        }
        self.pkey = pkey
        self.bits = bits
        contexts = PreparedDigestContexts(pkey: pkey, for: .verify)
    }

    deinit { EVP_PKEY_free(pkey) }

    /// Verifies an RSASSA-PKCS1-v1_5 signature (RFC 8017 §8.2.2) over `message`.
    public func verify(signature: [UInt8], message: some Collection<UInt8>, digest: RSADigest) -> Bool {
        guard signature.count == (bits + 7) / 8 else { return false }
        let result = contexts.withContext(for: digest) { ctx in
            withContiguousBytes(of: message) { tbs in EVP_DigestVerifyUpdate(ctx, tbs.baseAddress, tbs.count) } == 1
                && signature.withUnsafeBufferPointer { EVP_DigestVerifyFinal(ctx, $0.baseAddress, $0.count) } == 1
        }
        if result != true { ERR_clear_error() }
        return result == true
    }

    /// The key as PEM SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`).
    public var pem: String {
        writeToMemoryBIO { PEM_write_bio_PUBKEY($0, pkey) }
    }

    /// The key as base64 DER SubjectPublicKeyInfo, the form Atlassian's consumer-info uses.
    public var base64DER: String {
        var out: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_PUBKEY(pkey, &out)
        guard length > 0, let out else { return "" }
        defer { linkgate_openssl_free(out) }
        return Base64URL.encodeStandard(Array(UnsafeBufferPointer(start: out, count: Int(length))))
    }

    private static func isPrivateKeyDER(_ der: [UInt8]) -> Bool {
        der.withUnsafeBufferPointer { buf in
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            guard let key = d2i_AutoPrivateKey(nil, &p, buf.count) else {
                ERR_clear_error()
                return false
            }
            EVP_PKEY_free(key)
            return true
        }
    }
}

func withMemoryBIO<T>(_ text: String, _ body: (OpaquePointer) throws -> T) throws -> T {
    let bytes = Array(text.utf8)
    return try bytes.withUnsafeBytes { raw in
        guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else {
            throw CryptoError.malformedKey()
        }
        defer { BIO_free(bio) }
        return try body(bio)
    }
}

func writeToMemoryBIO(_ write: (OpaquePointer) -> Int32) -> String {
    guard let bio = BIO_new(BIO_s_mem()) else { return "" }
    defer { BIO_free(bio) }
    guard write(bio) == 1 else { ERR_clear_error(); return "" }
    var data: UnsafeMutablePointer<CChar>? = nil
    let length = linkgate_bio_get_mem_data(bio, &data)
    guard length > 0, let data else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let end = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[start...end])
    }
}

extension RSAPublicKey {
    /// The modulus `n` and public exponent `e`, big-endian without leading zeros (for a JWK,
    /// RFC 7518 §6.3.1), read with OpenSSL 3's `EVP_PKEY_get_bn_param`.
    public func components() throws -> (modulus: [UInt8], exponent: [UInt8]) {
        (try bigNumberParameter(OSSL_PKEY_PARAM_RSA_N), try bigNumberParameter(OSSL_PKEY_PARAM_RSA_E))
    }

    private func bigNumberParameter(_ name: String) throws -> [UInt8] {
        var number: OpaquePointer? = nil
        guard EVP_PKEY_get_bn_param(pkey, name, &number) == 1, let number else {
            ERR_clear_error()
            throw CryptoError.malformedKey("the key has no parameter \(name)")
        }
        defer { BN_free(number) }
        var bytes = [UInt8](repeating: 0, count: Int((BN_num_bits(number) + 7) / 8))
        let written = bytes.withUnsafeMutableBufferPointer { BN_bn2bin(number, $0.baseAddress) }
        return Array(bytes.prefix(Int(written)))
    }
}
