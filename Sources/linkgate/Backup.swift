import ArgumentParser
import Foundation
import LinkgatePostgres
import LinkgateSQLite

/// `linkgate backup` (INTERFACE §15): a consistent copy of a live SQLite database.
struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a SQLite database consistently, also while `serve` runs on it.",
        discussion: "The copy is the database as of one commit, and is checked with PRAGMA integrity_check. For PostgreSQL use pg_dump (see README).")

    @Option(help: "The SQLite database file (LINKGATE_DATABASE; default ./linkgate.sqlite).")
    var database: String?

    @Option(help: "The new file to write; an existing file is refused.")
    var to: String

    func run() throws {
        let path = setting(database, env: "LINKGATE_DATABASE", default: "./linkgate.sqlite")
        guard !DatabaseURL.isPostgres(path) else {
            throw ValidationError("linkgate backup copies SQLite databases; for PostgreSQL use pg_dump (see README, \"Several nodes on PostgreSQL\")")
        }
        do {
            try SQLiteStore.backup(path: path, to: to)
        } catch {
            // One clear line, no usage text: the command line was fine.
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
        print("backed up \(path) to \(to) (integrity_check ok)")
    }
}
