import LinkgateCrypto
import Synchronization

/// Remembers, for a minute, that a user name and password pair was verified, so REST clients
/// that send HTTP Basic on every call do not pay for scrypt each time.
///
/// Entries are keyed by an HMAC of the pair under a key that lives only in this process, and
/// are honoured only while the user's stored password hash is unchanged: a password change
/// or a deleted user invalidates them at once.
final class VerifiedPasswordCache: Sendable {
    private struct Entry {
        let passwordHash: String
        let expires: Int64
    }

    private let key = SecureRandom.bytes(32)
    private let entries = Mutex<[String: Entry]>([:])
    let lifetime: Int64
    let capacity: Int

    init(lifetime: Int64 = 60, capacity: Int = 4096) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    func fingerprint(name: String, password: String) -> String {
        // Length-prefix the name so ("a", "bc") and ("ab", "c") never collide.
        let message = Array("\(name.utf8.count):\(name):\(password)".utf8)
        return Base64URL.encode(HMAC.sha256(key: key, message: message))
    }

    func isVerified(_ fingerprint: String, passwordHash: String, now: Int64) -> Bool {
        entries.withLock { entries in
            guard let entry = entries[fingerprint] else { return false }
            guard entry.expires > now, entry.passwordHash == passwordHash else {
                entries[fingerprint] = nil
                return false
            }
            return true
        }
    }

    /// Remembers a verified pair for `lifetime` seconds (default: the cache's own).
    func remember(_ fingerprint: String, passwordHash: String, now: Int64, for seconds: Int64? = nil) {
        entries.withLock { entries in
            if entries.count >= capacity {
                entries = entries.filter { $0.value.expires > now }
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[fingerprint] = Entry(passwordHash: passwordHash, expires: now + min(seconds ?? lifetime, lifetime))
        }
    }
}
