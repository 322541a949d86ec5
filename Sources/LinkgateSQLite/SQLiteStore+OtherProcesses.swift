import GRDB

extension SQLiteStore {
    /// Keeps this store's caches in step with commits made by other processes on the same file
    /// (INTERFACE §15: a `linkgate user|client|consumer` command while `serve` runs takes effect
    /// in the server within 2 s, as a change on another node does on PostgreSQL, §11).
    ///
    /// Every `interval` it reads `PRAGMA data_version` on the writer connection: SQLite changes
    /// that value on a connection only when *another* connection has committed since its last
    /// read (sqlite.org/pragma.html#pragma_data_version), so this process's own writes, which all
    /// go through that one connection, never trigger it. On a change every entity cache is
    /// dropped, as `PostgresStore.remoteChange` drops one for a notification; the server's own
    /// caches (verified passwords, parsed keys) are keyed by what these caches return, so they
    /// follow. The read is one pragma on GRDB's serial writer queue, off the event loops.
    ///
    /// Runs until its task is cancelled; returns promptly then.
    public func followOtherProcesses(every interval: Duration = .milliseconds(250)) async {
        var seen = try? await dataVersion()
        // What was cached before the first reading may already be stale.
        otherProcessCommitted()
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            seen = await noticeOtherProcesses(since: seen)
        }
    }

    /// One round of `followOtherProcesses`: drops the caches if another process committed since
    /// `seen` (a `data_version` reading); returns the new reading. An error (the disk went away)
    /// leaves the caches as they are and `seen` unchanged, for the next round to retry.
    func noticeOtherProcesses(since seen: Int?) async -> Int? {
        guard let version = try? await dataVersion() else { return seen }
        if version != seen { otherProcessCommitted() }
        return version
    }

    /// `PRAGMA data_version` of the writer connection.
    func dataVersion() async throws -> Int {
        try await writer.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA data_version") ?? 0 }
    }

    /// Another process changed the database: anything cached may be stale.
    func otherProcessCommitted() {
        userCache.invalidate()
        clientCache.invalidate()
        consumerCache.invalidate()
    }
}
