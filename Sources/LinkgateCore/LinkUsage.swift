/// How much a link is used, for the admin console.
public struct LinkUsage: Sendable, Equatable {
    /// Live (unexpired, unrevoked, unrotated) tokens.
    public var activeTokens: Int
    /// The latest token issue or recorded use, epoch seconds.
    public var lastUsedAt: Int64?

    public init(activeTokens: Int, lastUsedAt: Int64?) {
        self.activeTokens = activeTokens
        self.lastUsedAt = lastUsedAt
    }
}
