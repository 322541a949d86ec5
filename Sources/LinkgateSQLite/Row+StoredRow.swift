import GRDB
import LinkgateStoreKit

/// GRDB rows read by the shared record mapping (`StoredRecords`).
extension Row: StoredRow {
    public func text(_ column: String) throws -> String { self[column] }
    public func optionalText(_ column: String) throws -> String? { self[column] }
    public func integer(_ column: String) throws -> Int64 { self[column] }
    public func optionalInteger(_ column: String) throws -> Int64? { self[column] }
    public func flag(_ column: String) throws -> Bool { self[column] }
}
