import LinkgateCore
import LinkgateMetrics
import LinkgateStoreKit
import NIOCore
import OAuth2
import PostgresNIO

/// One request's tokens that spend nothing and touch no consent (client_credentials), waiting
/// for the next batch.
struct ClientTokenWrite: Sendable {
    var tokens: [TokenRecord]
    var audit: AuditEntry?
    var done: @Sendable (Result<Void, any Error>) -> Void
}

extension PostgresStore {
    /// Group commit for client tokens, PostgreSQL's counterpart of SQLite's `GroupCommit`: the
    /// requests that arrive while a batch is in flight go together in the next one, a single
    /// statement. Per batch that is one executor start-up, one commit record and one WAL flush
    /// instead of one of each per token, which was most of PostgreSQL's CPU per token. Each
    /// request still resumes only after the statement that stored its token has committed.
    ///
    /// One batch at a time per node. When a batch's statement fails for a reason one write can
    /// cause (a link deleted meanwhile breaks its token's foreign key), each write of it runs
    /// alone, so only the one at fault fails; an unavailable database fails them all at once.
    func saveClientTokens(_ tokens: [TokenRecord], audit: AuditEntry?) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let write = ClientTokenWrite(tokens: tokens, audit: audit) { continuation.resume(with: $0) }
            if clientTokenWrites.append(write) { Task { await self.drainClientTokenWrites() } }
        }
    }

    /// Commits batches until none is waiting.
    private func drainClientTokenWrites() async {
        while true {
            let batch = clientTokenWrites.nextBatch()
            if batch.isEmpty { return }
            let began = ContinuousClock.now
            do {
                try await rows(SaveClientTokenBatch(batch))
                // INTERFACE §15: the statement is the transaction; the batch it carried.
                LinkgateMetrics.storeCommit(store: "postgresql", nanoseconds: (ContinuousClock.now - began).nanoseconds, batchSize: batch.count)
                for write in batch { write.done(.success(())) }
            } catch StoreError.unavailable(let code) {
                for write in batch { write.done(.failure(StoreError.unavailable(code: code))) }
            } catch where batch.count > 1 {
                await withDiscardingTaskGroup { group in
                    for write in batch { group.addTask { await self.commitAlone(write) } }
                }
            } catch {
                batch[0].done(.failure(error))
            }
        }
    }

    private func commitAlone(_ write: ClientTokenWrite) async {
        do {
            try await rows(SaveClientTokenBatch([write]))
            write.done(.success(()))
        } catch {
            write.done(.failure(error))
        }
    }
}

/// Stores the tokens of a batch of writes with each write's link use and audit entry.
struct SaveClientTokenBatch: PreparedLookup {
    static let name = "linkgate_save_client_token_batch_v1"
    static let sql = """
        WITH issued AS (\(TokenColumns.insert(first: 10))),
             used_client AS (UPDATE oauth2_clients c SET last_used_at = u.now
                             FROM (SELECT client_id, max(now) AS now FROM unnest($1::text[], $2::int8[]) AS w(client_id, now)
                                   GROUP BY client_id) u
                             WHERE c.client_id = u.client_id AND \(PostgresStore.stale("c.last_used_at", "u.now"))),
             audited AS (INSERT INTO audit (time, actor, client, subject, action, outcome, detail)
                         SELECT * FROM unnest($3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[]))
        SELECT 1
        """
    var tokens: TokenColumns
    var clients: [String] = [], nows: [Int64] = []
    var audit: [AuditEntry] = []

    init(_ writes: [ClientTokenWrite]) {
        tokens = TokenColumns(writes.flatMap(\.tokens))
        for write in writes {
            if let first = write.tokens.first {
                clients.append(first.clientId)
                nows.append(first.issuedAt)
            }
            if let entry = write.audit { audit.append(entry) }
        }
    }

    func makeBindings() throws -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(clients)
        binds.append(nows)
        binds.append(audit.map(\.time))
        binds.append(OptionalTexts(audit.map(\.actor)))
        binds.append(OptionalTexts(audit.map(\.client)))
        binds.append(OptionalTexts(audit.map(\.subject)))
        binds.append(audit.map(\.action))
        binds.append(audit.map(\.outcome.rawValue))
        binds.append(OptionalTexts(audit.map(\.detail)))
        tokens.bind(&binds)
        return binds
    }
}

/// A `text[]` parameter whose elements may be NULL (postgres-nio's arrays cannot hold NULLs),
/// in PostgreSQL's binary array format: dimensions, has-NULLs flag, element type, then length
/// and lower bound, then each element as its byte count (-1 for NULL) and bytes.
struct OptionalTexts: PostgresNonThrowingEncodable {
    var values: [String?]

    init(_ values: [String?]) { self.values = values }

    static var psqlType: PostgresDataType { .textArray }
    static var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        buffer.writeInteger(values.isEmpty ? 0 : 1, as: Int32.self)
        buffer.writeInteger(values.contains(nil) ? 1 : 0, as: Int32.self)
        buffer.writeInteger(PostgresDataType.text.rawValue)
        guard !values.isEmpty else { return }
        buffer.writeInteger(Int32(values.count))
        buffer.writeInteger(1, as: Int32.self)
        for value in values {
            guard let value else {
                buffer.writeInteger(-1, as: Int32.self)
                continue
            }
            buffer.writeInteger(Int32(value.utf8.count))
            buffer.writeString(value)
        }
    }
}
