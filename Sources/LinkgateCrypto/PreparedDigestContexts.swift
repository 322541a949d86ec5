import CLibCrypto

/// EVP_DigestSign/VerifyInit'ed contexts for one key, one per digest, made once and copied for
/// each message. An init fetches the digest and signature algorithms by name from the provider
/// store and sets up a key context every time (about 15 µs of an RSA-SHA1 verification here);
/// `EVP_MD_CTX_copy_ex` of a ready context skips all of it. The templates are only ever read,
/// which OpenSSL allows from several threads at once.
final class PreparedDigestContexts: @unchecked Sendable {
    enum Operation { case sign, verify }

    /// Indexed like `RSADigest.allCases`; nil where the init failed (that digest then fails too).
    private let templates: [OpaquePointer?]

    init(pkey: OpaquePointer, for operation: Operation) {
        templates = RSADigest.allCases.map { digest in
            guard let ctx = EVP_MD_CTX_new() else { return nil }
            let ok = switch operation {
            case .sign: EVP_DigestSignInit_ex(ctx, nil, digest.rawValue, nil, nil, pkey, nil)
            case .verify: EVP_DigestVerifyInit_ex(ctx, nil, digest.rawValue, nil, nil, pkey, nil)
            }
            guard ok == 1 else {
                ERR_clear_error()
                EVP_MD_CTX_free(ctx)
                return nil
            }
            return ctx
        }
    }

    deinit { templates.forEach { EVP_MD_CTX_free($0) } }

    /// Runs `body` with a fresh copy of the digest's context, ready for Update and Final (the
    /// copy is finalised in place: no further internal copy in Final); nil if there is none.
    func withContext<R>(for digest: RSADigest, _ body: (OpaquePointer) -> R) -> R? {
        guard let template = templates[RSADigest.allCases.firstIndex(of: digest)!], let ctx = EVP_MD_CTX_new() else { return nil }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_MD_CTX_copy_ex(ctx, template) == 1 else {
            ERR_clear_error()
            return nil
        }
        EVP_MD_CTX_set_flags(ctx, EVP_MD_CTX_FLAG_FINALISE)
        return body(ctx)
    }
}

/// `body` with `bytes` in one contiguous buffer (copied only if they are not already).
func withContiguousBytes<R>(of bytes: some Collection<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
    if let result = bytes.withContiguousStorageIfAvailable(body) { return result }
    return Array(bytes).withUnsafeBufferPointer(body)
}
