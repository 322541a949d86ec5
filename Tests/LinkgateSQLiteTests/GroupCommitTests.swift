import Foundation
import GRDB
import LinkgateCore
import LinkgateCrypto
import OAuth2
import StoreTestSupport
import Testing
@testable import LinkgateSQLite

@Suite("Group commit")
struct GroupCommitTests {
    @Test("concurrent writes all commit; a failing one rolls back alone; every caller gets its own result")
    func batches() async throws {
        let db = try TemporaryDatabase()
        let store = try SQLiteStore(path: db.path)
        try await store.createUser(makeUser("base"))
        let results = await withTaskGroup(of: (Int, Bool).self) { group in
            for i in 0..<300 {
                group.addTask {
                    do {
                        if i % 50 == 7 {
                            // Writes, then fails: its own insert must vanish, nobody else's.
                            try await store.write { db in
                                try db.execute(sql: "INSERT INTO settings (key, value) VALUES (?, 'x')", arguments: ["doomed-\(i)"])
                                throw StoreError.conflict("on purpose")
                            }
                            return (i, false)
                        }
                        let value: Int = try await store.write { db in
                            try db.execute(sql: "INSERT INTO settings (key, value) VALUES (?, ?)", arguments: ["k\(i)", String(i)])
                            return i * 2
                        }
                        return (i, value == i * 2)
                    } catch {
                        return (i, i % 50 == 7)
                    }
                }
            }
            return await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
        }
        #expect(results.count == 300 && results.values.allSatisfy { $0 })
        // A second connection (a fresh store on the same file) sees exactly the committed rows.
        let reopened = try SQLiteStore(path: db.path)
        let count = try await reopened.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM settings WHERE key LIKE 'k%'") ?? 0 }
        let doomed = try await reopened.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM settings WHERE key LIKE 'doomed-%'") ?? 0 }
        #expect(count == 294 && doomed == 0)
    }
}

@Suite("Audit entries written with the change they describe")
struct AuditInSameCommitTests {
    static func entry(_ detail: String) -> AuditEntry {
        AuditEntry(time: 1_700_000_000, actor: "c", client: "c", subject: nil, action: AuditAction.tokenIssue, outcome: .success, detail: detail)
    }

    @Test("issued tokens and their audit entry commit together, or neither does")
    func tokensWithAudit() async throws {
        let db = try TemporaryDatabase()
        let store = try SQLiteStore(path: db.path)
        let client = makeClient("cc")
        try await store.createClient(client)
        let token = TokenRecord(digest: Digest.storageDigest(of: "t1"), kind: .access, familyId: "f1", clientId: client.clientId,
                                userName: nil, scope: .read, mode: .application, issuedAt: 1_700_000_000, expiresAt: 4_000_000_000)
        try await store.saveTokens([token], audit: Self.entry("first"))
        // The same digest again violates the primary key: the entry of that job must vanish with it.
        await #expect(throws: StoreError.self) { try await store.saveTokens([token], audit: Self.entry("second")) }
        let reopened = try SQLiteStore(path: db.path)
        #expect(try await reopened.auditEntries(AuditQuery()).map(\.detail) == ["first"])
        #expect(try await reopened.liveToken(digest: token.digest, now: 1_700_000_001) == token)
    }

    @Test("audit entries are indexed by time, client and action; the user filter (subject or actor) needs no index of its own")
    func auditIndexes() async throws {
        let db = try TemporaryDatabase()
        let store = try SQLiteStore(path: db.path)
        let indexes = try await store.writer.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM pragma_index_list('audit') WHERE origin = 'c' ORDER BY name")
        }
        #expect(indexes == ["audit_action", "audit_client", "audit_time"])
        for (i, (actor, subject)) in [("alice", nil), (nil, "alice"), ("bob", "carol"), ("bob", "alice")].enumerated() {
            try await store.record(AuditEntry(time: 1_700_000_000 + Int64(i), actor: actor, client: "c", subject: subject,
                                              action: AuditAction.tokenIssue, outcome: .success, detail: "\(i)"))
        }
        #expect(try await store.auditEntries(AuditQuery(user: "alice")).map(\.detail) == ["3", "1", "0"])
        #expect(try await store.auditEntries(AuditQuery(user: "carol")).map(\.detail) == ["2"])
    }

    @Test("a nonce's audit entry is written only when the nonce is new")
    func nonceWithAudit() async throws {
        let db = try TemporaryDatabase()
        let store = try SQLiteStore(path: db.path)
        #expect(try await store.recordNonce(consumerKey: "k", nonce: "n1", timestamp: 1_700_000_000, audit: Self.entry("use 1")))
        #expect(try await store.recordNonce(consumerKey: "k", nonce: "n1", timestamp: 1_700_000_000, audit: Self.entry("replay")) == false)
        #expect(try await store.recordNonce(consumerKey: "k", nonce: "n2", timestamp: 1_700_000_000, audit: nil))
        #expect(try await store.auditEntries(AuditQuery()).map(\.detail) == ["use 1"])
    }
}
