import CLibCrypto
#if canImport(Glibc)
import Glibc
#endif

/// Cryptographically secure random values from OpenSSL's `RAND_bytes`.
public enum SecureRandom {
    /// `count` random bytes. Traps if the CSPRNG is unavailable: continuing without
    /// randomness would mint guessable secrets.
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(ok == 1, "RAND_bytes failed: no secure randomness available")
        return out
    }

    /// A 256-bit random token, base64url without padding (43 characters).
    /// Used for every token, code, secret and session id (INTERFACE §1).
    public static func token() -> String {
        Base64URL.encode(bytes(32))
    }

    /// A token whose storage key ascends with time: the Unix time in milliseconds as 12 lowercase
    /// hex digits, then a 256-bit random `token()` (55 characters, all of the base64url alphabet).
    /// For the secrets stored on every grant (access and refresh tokens, authorization codes):
    /// `Digest.tokenKey(of:)` keeps the time prefix in front of the digest, so a new key
    /// lands on the digest index's last page instead of a random one (`scripts/bench`: half the
    /// WAL bytes per token). The prefix tells when the token was issued, which is no secret.
    public static func timeOrderedToken(unixMilliseconds: UInt64) -> String {
        Hex.encode(millisecondBytes(unixMilliseconds)) + token()
    }

    /// A time-ordered token for now.
    public static func timeOrderedToken() -> String {
        timeOrderedToken(unixMilliseconds: unixMillisecondsNow())
    }

    /// Hex digits of a time-ordered token's prefix (48 bits of milliseconds: until the year 10889).
    static let timePrefixLength = 12
    /// Characters of a time-ordered token.
    static let timeOrderedTokenLength = timePrefixLength + 43

    /// The time prefix of a string shaped like a time-ordered token (55 characters, the first 12
    /// lowercase hex digits), else nil. Any presented secret may be passed.
    static func timePrefix(of secret: String) -> String? {
        let bytes = secret.utf8
        guard bytes.count == timeOrderedTokenLength else { return nil }
        let prefix = bytes.prefix(timePrefixLength)
        guard prefix.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else { return nil }  // 0-9, a-f
        return String(decoding: prefix, as: UTF8.self)
    }

    /// The low 48 bits of `unixMilliseconds`, big-endian: the time field of a version-7 UUID and,
    /// in hex, the prefix of a time-ordered token.
    private static func millisecondBytes(_ unixMilliseconds: UInt64) -> [UInt8] {
        (0..<6).map { UInt8(truncatingIfNeeded: unixMilliseconds >> (8 * (5 - $0))) }
    }

    private static func unixMillisecondsNow() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec / 1_000_000)
    }

    /// `count` random bytes as lowercase hex.
    public static func hex(_ count: Int) -> String {
        Hex.encode(bytes(count))
    }

    /// A time-ordered UUID (RFC 9562 §5.7, version 7): the Unix time in milliseconds, then 74
    /// random bits. For ids that are keys of an index written on every token (grant families):
    /// new ids land on the index's last page, one page write per commit instead of one random
    /// page per token. Never a secret: the random bits only keep ids apart.
    public static func timeOrderedUUID(unixMilliseconds: UInt64) -> String {
        var b = bytes(16)
        b.replaceSubrange(0..<6, with: millisecondBytes(unixMilliseconds))
        b[6] = (b[6] & 0x0F) | 0x70
        b[8] = (b[8] & 0x3F) | 0x80
        return formatUUID(b)
    }

    /// A time-ordered UUID for now.
    public static func timeOrderedUUID() -> String {
        timeOrderedUUID(unixMilliseconds: unixMillisecondsNow())
    }

    /// A random RFC 4122 version-4 UUID string.
    public static func uuid() -> String {
        var b = bytes(16)
        b[6] = (b[6] & 0x0F) | 0x40
        b[8] = (b[8] & 0x3F) | 0x80
        return formatUUID(b)
    }

    /// 8-4-4-4-12 lowercase hex, written into the string's buffer (Characters and five
    /// concatenations cost 46 k instructions per UUID, on every token issued).
    static func formatUUID(_ b: [UInt8]) -> String {
        String(unsafeUninitializedCapacity: 36) { out in
            var o = 0
            for (i, byte) in b.prefix(16).enumerated() {
                if i == 4 || i == 6 || i == 8 || i == 10 {
                    out[o] = UInt8(ascii: "-")
                    o += 1
                }
                out[o] = Hex.digits[Int(byte >> 4)]
                out[o + 1] = Hex.digits[Int(byte & 0x0F)]
                o += 2
            }
            return o
        }
    }
}
