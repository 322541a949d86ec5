import Foundation
import GRDB
import Testing
@testable import LinkgateSQLite

@Suite("SQLite store: migrations of existing databases")
struct MigrationTests {
    @Test("v11 keys nonces by timestamp: spent nonces stay spent, and the table is one B-tree")
    func timeOrderedNonces() async throws {
        let db = try TemporaryDatabase()
        do {
            let before = try DatabaseQueue(path: db.path)
            try SQLiteStore.migrator.migrate(before, upTo: "v10-unused-audit-index")
            try await before.write { db in
                try db.execute(sql: """
                    INSERT INTO oauth1_nonces (consumer_key, nonce, timestamp) VALUES
                        ('jira', 'n1', 1000), ('jira', 'n2', 1001), ('confluence', 'n1', 1000)
                    """)
            }
            try before.close()
        }
        let store = try SQLiteStore(path: db.path)
        // Spent before the upgrade: still spent, per consumer and timestamp.
        #expect(try await !store.recordNonce(consumerKey: "jira", nonce: "n1", timestamp: 1000, audit: nil))
        #expect(try await !store.recordNonce(consumerKey: "confluence", nonce: "n1", timestamp: 1000, audit: nil))
        #expect(try await store.recordNonce(consumerKey: "jira", nonce: "n1", timestamp: 1002, audit: nil))
        let layout = try await store.writer.read { db in
            (try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'oauth1_nonces'") ?? "",
             try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE tbl_name = 'oauth1_nonces' AND type = 'index'") ?? -1,
             try Int.fetchOne(db, sql: "SELECT count(*) FROM oauth1_nonces") ?? -1)
        }
        #expect(layout.0.contains("WITHOUT ROWID") && layout.0.contains("PRIMARY KEY (timestamp, consumer_key, nonce)"))
        #expect(layout.1 == 0)
        #expect(layout.2 == 4)
        #expect(try await store.pruneOAuth1(now: 1301, nonceWindow: 300) == 2)
    }
}
