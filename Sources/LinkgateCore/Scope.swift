/// Atlassian's OAuth 2.0 scopes (INTERFACE §4): `READ` < `WRITE` < `ADMIN` < `SYSTEM_ADMIN`;
/// each implies those below it.
public enum Scope: String, Sendable, CaseIterable, Comparable, Codable {
    case read = "READ"
    case write = "WRITE"
    case admin = "ADMIN"
    case systemAdmin = "SYSTEM_ADMIN"

    private var rank: Int { Self.allCases.firstIndex(of: self)! }

    public static func < (lhs: Scope, rhs: Scope) -> Bool { lhs.rank < rhs.rank }

    /// Whether holding `self` allows an action that needs `required`.
    public func includes(_ required: Scope) -> Bool { self >= required }

    /// Words a person understands, for consent pages.
    public var summary: String {
        switch self {
        case .read: "View your data"
        case .write: "View and change your data"
        case .admin: "Administer projects and your data"
        case .systemAdmin: "Administer the whole system"
        }
    }
}
