import Foundation
import LinkgateCore
import LinkgateCrypto
import OAuth2
import StoreTestSupport
import Testing
@testable import LinkgateSQLite

@Suite("Point reads on the store's own connections")
struct PointReadTests {
    static func token(_ name: String, client: String, user: String? = nil, openID: OpenIDScope? = nil, expiresAt: Int64 = 4_000_000_000) -> TokenRecord {
        TokenRecord(digest: Digest.storageDigest(of: name), kind: .access, familyId: "f-" + name, clientId: client, userName: user,
                    scope: .write, mode: user == nil ? .application : .user, issuedAt: 1_700_000_000, expiresAt: expiresAt,
                    openID: openID, authTime: openID == nil ? nil : 1_699_999_000)
    }

    @Test("a file store reads tokens on its own connections: each commit is seen by the next read, every column comes back")
    func freshAndComplete() async throws {
        let db = try TemporaryDatabase()
        let store = try SQLiteStore(path: db.path)
        #expect(store.pointReaders != nil)
        try await store.createUser(makeUser("alice"))
        let client = makeClient("app")
        try await store.createClient(client)
        let plain = Self.token("t1", client: client.clientId)
        let oidc = Self.token("t2", client: client.clientId, user: "alice", openID: OpenIDScope(stored: "openid email"))
        #expect(try await store.liveToken(digest: plain.digest, now: 1_700_000_001) == nil)
        try await store.saveTokens([plain, oidc], audit: nil)
        // Read right after the commit, on a connection that already read before it.
        #expect(try await store.liveToken(digest: plain.digest, now: 1_700_000_001) == plain)
        #expect(try await store.liveToken(digest: oidc.digest, now: 1_700_000_001) == oidc)
        // Expired, revoked: not live.
        #expect(try await store.liveToken(digest: plain.digest, now: 4_000_000_000) == nil)
        #expect(try await store.revokeToken(digest: plain.digest, clientId: client.clientId, now: 1_700_000_002))
        #expect(try await store.liveToken(digest: plain.digest, now: 1_700_000_003) == nil)
        #expect(try await store.liveToken(digest: oidc.digest, now: 1_700_000_003) == oidc)
    }

    @Test("many concurrent reads share the connections, each sees its own row")
    func concurrent() async throws {
        let db = try TemporaryDatabase()
        let store = try SQLiteStore(path: db.path)
        let client = makeClient("app")
        try await store.createClient(client)
        let tokens = (0..<40).map { Self.token("c\($0)", client: client.clientId) }
        try await store.saveTokens(tokens, audit: nil)
        let matches = try await withThrowingTaskGroup(of: Bool.self) { group in
            for round in 0..<400 {
                let token = tokens[round % tokens.count]
                group.addTask { try await store.liveToken(digest: token.digest, now: 1_700_000_001) == token }
            }
            return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(matches == 400)
    }

    @Test("an in-memory store has no point readers and reads through GRDB")
    func inMemory() async throws {
        let store = try SQLiteStore()
        #expect(store.pointReaders == nil)
        let client = makeClient("app")
        try await store.createClient(client)
        let token = Self.token("m1", client: client.clientId)
        try await store.saveTokens([token], audit: nil)
        #expect(try await store.liveToken(digest: token.digest, now: 1_700_000_001) == token)
    }

    @Test("a read that fails (no database file, no such table) throws, as a store error through the store")
    func failure() async throws {
        let db = try TemporaryDatabase()
        let readers = PointReaders(path: db.path + ".missing/none.sqlite")
        #expect(throws: (any Error).self) { try readers.withReader { _ in 1 } }
        let store = try SQLiteStore(path: db.path)
        let bad = try #require(store.pointReaders)
        #expect(throws: StoreError.self) {
            try store.pointRead(bad) { try $0.first("SELECT * FROM no_such_table", [], { _ in 1 }) }
        }
    }
}
