/// How much a link is used, for the admin console.
public struct LinkUsage: Sendable, Equatable {
    /// Live (unexpired, unrevoked, unrotated) tokens.
    public var activeTokens: Int
    /// The latest token issue or recorded use, epoch seconds, to the minute: a store writes it
    /// only when the stored value is `granularity` seconds old, so issuing tokens for one link
    /// does not rewrite (and, on PostgreSQL, lock) the link's row every time.
    public var lastUsedAt: Int64?

    public static let granularity: Int64 = 60

    public init(activeTokens: Int, lastUsedAt: Int64?) {
        self.activeTokens = activeTokens
        self.lastUsedAt = lastUsedAt
    }
}
