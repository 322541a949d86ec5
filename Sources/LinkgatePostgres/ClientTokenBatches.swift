import LinkgateCore
import LinkgateStoreKit
import NIOCore
import OAuth2
import PostgresNIO

/// One request's tokens that spend nothing and touch no consent (client_credentials).
struct ClientTokenWrite: Sendable {
    var tokens: [TokenRecord]
    var audit: AuditEntry?
}

extension PostgresStore {
    /// Stores client tokens in the next batch (`StatementBatches`): under load one statement and one
    /// commit serve every token requested meanwhile.
    func saveClientTokens(_ tokens: [TokenRecord], audit: AuditEntry?) async throws {
        try await clientTokenWrites.run(ClientTokenWrite(tokens: tokens, audit: audit), on: self)
    }
}

/// Stores the tokens of a batch of writes with each write's link use and audit entry.
struct SaveClientTokenBatch: PreparedLookup {
    static let name = "linkgate_save_client_token_batch_v1"
    static let sql = """
        WITH issued AS (\(TokenColumns.insert(first: 10))),
             \(TokenColumns.recordLinkUses(from: "unnest($1::text[], $2::int8[]) AS w(client_id, used_at)")),
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
        AuditColumns.bind(audit, &binds)
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
