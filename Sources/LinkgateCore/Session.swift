/// A browser login session. Only the digest of the cookie value is stored.
public struct Session: Sendable, Equatable {
    public var idDigest: String
    public var userName: String
    public var createdAt: Int64
    public var expiresAt: Int64

    public init(idDigest: String, userName: String, createdAt: Int64, expiresAt: Int64) {
        self.idDigest = idDigest
        self.userName = userName
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}
