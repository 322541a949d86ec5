/// Start-up self-test: some platforms forbid SHA-1 signatures by crypto policy, which
/// would silently break every OAuth 1.0a application link. Verify a known RSA-SHA1
/// vector (RFC 5849 base string, signed with a fixed key) and refuse to start if it fails.
public enum CryptoSelfTest {
    static let publicKeyPEM = """
        -----BEGIN PUBLIC KEY-----
        MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxN1bDbBwYMn3l9IOfOcK
        LtrNcyCPNnne4roK9Dz5KY7bBKSLdqdH54iw6lPu6AoY/qncdJEmhDoL9CEp5vpb
        cjEplIVzefMoSIvOz/2PCJebijpFEi6oVTnRbtWAvMvmhzJ3L95CLbs2xchyKIWj
        OQK1vfvOvH7SqnynsUSnJJ2rSsA7vGtQwyL+eq2DIJgDZXUCUncqggG8zn2cnZSG
        AJIhqmxDRHr8Pks18c6MpfgRlzoVunTTPL2VI8q7l9rbinLyTnyfvf8TbzSj1Ehj
        ZAyNfvj00TAHp7yQZhlV5R62wwbeywFwaExzxn5QTFOawbxxmM3qrCQzcBeamECy
        jwIDAQAB
        -----END PUBLIC KEY-----
        """
    static let message = "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
    static let signature = "Z3M8/6tHjgN1jRkmSg+B0Q+mZ3z3IrJs4pL7oKQDQi8owofyce6R5rIh+Ei9J6eBpV8zdWra2gtkaiPs6Mj1xpVMS9e9pXKOoiksYXar/KoUxfrC7kXVGNDLha2sq2k99E7f7e3EIaWGSviRbJyfQdfl21cZsMj6Qr0nwWpzHUzXdalENokoy3lfVx+6wDvsd1BhJMWb3v0WKBq1pN2lT8MibtWs06l79smX3k5iXMsNNHfsSZVdO5bnvPrAX5DbqsAbAthGNtYf9hwCuy1/CdZsDczQFNVq4ZLwrRWEZYii+tHGLcXM9S3YkxsK9Y0bSAHcXA6m6kP1fOvzGC0tJw=="

    /// Throws `sha1Forbidden` with an actionable message when RSA-SHA1 verification fails.
    public static func run() throws {
        let key = try RSAPublicKey(pem: publicKeyPEM)
        guard let sig = Base64URL.decode(signature),
              key.verify(signature: sig, message: Array(message.utf8), digest: .sha1),
              !key.verify(signature: sig, message: Array((message + "x").utf8), digest: .sha1)
        else {
            throw CryptoError(
                code: .sha1Forbidden,
                message: "RSA-SHA1 self-test failed: this platform's OpenSSL refuses SHA-1 signatures "
                    + "(crypto policy). OAuth 1.0a application links need RSA-SHA1; allow SHA-1 signatures "
                    + "for this process (e.g. OPENSSL_CONF with 'rh-allow-sha1-signatures = yes') and restart.")
        }
    }
}
