import LinkgateCore
import LinkgateStoreKit
import OAuth2
import PostgresNIO

/// One request's read of a live token (introspection, every bearer request).
struct LiveTokenRead: Sendable {
    var digest: String
    var now: Int64
}

extension PostgresStore {
    /// Each read's live token, in one statement for the whole batch.
    func readLiveTokens(_ reads: [LiveTokenRead]) async throws -> [TokenRecord?] {
        try await rowsByRequest(LiveTokens(reads), count: reads.count, StoredRecords.token)
    }
}

/// Introspection's and every bearer request's one read, for a batch of them: the live tokens,
/// each with its request's place in the batch.
struct LiveTokens: PreparedLookup {
    static let name = "linkgate_live_tokens_v1"
    static let sql = """
        SELECT r.request, t.* FROM unnest($1::text[], $2::int8[]) WITH ORDINALITY AS r(digest, now, request)
        JOIN oauth2_tokens t ON t.digest = r.digest AND t.expires_at > r.now AND t.rotated_at IS NULL AND t.revoked_at IS NULL
        """
    var digests: [String]
    var nows: [Int64]

    init(_ reads: [LiveTokenRead]) {
        digests = reads.map(\.digest)
        nows = reads.map(\.now)
    }

    func makeBindings() throws -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(digests)
        binds.append(nows)
        return binds
    }
}
