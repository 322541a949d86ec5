import CLibCrypto

/// Password hashing with scrypt (RFC 7914) through `EVP_PBE_scrypt`.
///
/// Stored form: `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt base64url>$<key base64url>`. The cost
/// travels with each hash, so raising it later does not break existing passwords.
public struct PasswordHasher: Sendable {
    /// log2 of scrypt's N. 15 → N = 32768, 32 MiB of memory per hash with r = 8.
    public let logN: Int
    public let r: Int
    public let p: Int

    public static let standard = PasswordHasher(logN: 15, r: 8, p: 1)

    public init(logN: Int, r: Int, p: Int) {
        self.logN = logN
        self.r = r
        self.p = p
    }

    /// Hashes `password` with a fresh 16-byte salt.
    public func hash(_ password: String) throws -> String {
        let salt = SecureRandom.bytes(16)
        let key = try Self.scrypt(Array(password.utf8), salt: salt, logN: logN, r: r, p: p, length: 32)
        return "$scrypt$ln=\(logN),r=\(r),p=\(p)$\(Base64URL.encode(salt))$\(Base64URL.encode(key))"
    }

    /// Checks `password` against a stored hash in constant time. A malformed stored hash
    /// never matches.
    public static func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty, parts[1] == "scrypt" else { return false }
        var params: [Substring: Int] = [:]
        for item in parts[2].split(separator: ",") {
            let kv = item.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let v = Int(kv[1]) else { return false }
            params[kv[0]] = v
        }
        guard let logN = params["ln"], let r = params["r"], let p = params["p"],
              (1...22).contains(logN), (1...32).contains(r), (1...16).contains(p),
              let salt = Base64URL.decode(parts[3]), let expected = Base64URL.decode(parts[4]),
              !expected.isEmpty, expected.count <= 64,
              let actual = try? scrypt(Array(password.utf8), salt: salt, logN: logN, r: r, p: p, length: expected.count)
        else { return false }
        return constantTimeEquals(actual, expected)
    }

    /// Raw scrypt (RFC 7914 §6).
    public static func scrypt(_ password: [UInt8], salt: [UInt8], logN: Int, r: Int, p: Int, length: Int) throws -> [UInt8] {
        var key = [UInt8](repeating: 0, count: length)
        // 128·r·N bytes are needed; allow that plus headroom, and never less than 64 MiB.
        let maxmem = UInt64(max(64 << 20, 256 * r * (1 << logN)))
        // A one-byte buffer stands in for an empty password so the pointer is never null.
        let pass: [CChar] = password.isEmpty ? [0] : password.map { CChar(bitPattern: $0) }
        let saltBytes: [UInt8] = salt.isEmpty ? [0] : salt
        let ok = pass.withUnsafeBufferPointer { pw in
            saltBytes.withUnsafeBufferPointer { s in
                key.withUnsafeMutableBufferPointer { k in
                    EVP_PBE_scrypt(pw.baseAddress, password.count, s.baseAddress, salt.count,
                                   UInt64(1) << UInt64(logN), UInt64(r), UInt64(p), maxmem, k.baseAddress, length)
                }
            }
        }
        guard ok == 1 else {
            ERR_clear_error()
            throw CryptoError(code: .scryptFailed, message: "scrypt failed")
        }
        return key
    }
}
