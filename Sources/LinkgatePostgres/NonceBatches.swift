import LinkgateCore
import PostgresNIO

/// One OAuth 1.0a request's nonce to spend (RFC 5849 §3.3), with the audit entry written if it is new.
struct NonceSpend: Sendable {
    var timestamp: Int64
    var consumerKey: String
    var nonce: String
    var audit: AuditEntry?
}

extension PostgresStore {
    /// Whether each nonce was new, in one statement for the whole batch. Of two requests in one
    /// batch with the same nonce, the earlier one spends it and the other is a replay.
    func spendNonces(_ spends: [NonceSpend]) async throws -> [Bool] {
        try await rowsByRequest(RecordNonceBatch(spends), count: spends.count) { _ in true }.map { $0 ?? false }
    }
}

/// Spends a batch's nonces and appends the audit entry of each request whose nonce was new.
/// `DISTINCT ON … ORDER BY request` lets only the first request of a repeated nonce try it: the
/// insert's RETURNING gives the key, not the request, so a later twin must not join it.
struct RecordNonceBatch: PreparedLookup {
    static let name = "linkgate_record_nonce_batch_v1"
    static let sql = """
        WITH requests AS (SELECT * FROM unnest($1::int8[], $2::text[], $3::text[]) WITH ORDINALITY
                                        AS r(ts, consumer_key, nonce, request)),
             firsts AS (SELECT DISTINCT ON (ts, consumer_key, nonce) * FROM requests ORDER BY ts, consumer_key, nonce, request),
             fresh AS (INSERT INTO oauth1_nonces (timestamp, consumer_key, nonce) SELECT ts, consumer_key, nonce FROM firsts
                       ON CONFLICT DO NOTHING RETURNING timestamp AS ts, consumer_key, nonce),
             spent AS (SELECT request FROM firsts JOIN fresh USING (ts, consumer_key, nonce)),
             audited AS (INSERT INTO audit (time, actor, client, subject, action, outcome, detail)
                         SELECT a.time, a.actor, a.client, a.subject, a.action, a.outcome, a.detail
                         FROM unnest($4::int8[], $5::int8[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
                              AS a(request, time, actor, client, subject, action, outcome, detail)
                         JOIN spent USING (request))
        SELECT request FROM spent
        """
    var timestamps: [Int64] = [], consumerKeys: [String] = [], nonces: [String] = []
    var auditRequests: [Int64] = []
    var audit: [AuditEntry] = []

    init(_ spends: [NonceSpend]) {
        for (index, spend) in spends.enumerated() {
            timestamps.append(spend.timestamp)
            consumerKeys.append(spend.consumerKey)
            nonces.append(spend.nonce)
            if let entry = spend.audit {
                auditRequests.append(Int64(index + 1))
                audit.append(entry)
            }
        }
    }

    func makeBindings() throws -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(timestamps)
        binds.append(consumerKeys)
        binds.append(nonces)
        binds.append(auditRequests)
        AuditColumns.bind(audit, &binds)
        return binds
    }
}
