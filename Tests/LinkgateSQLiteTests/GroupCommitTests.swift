import Foundation
import GRDB
import LinkgateCore
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
