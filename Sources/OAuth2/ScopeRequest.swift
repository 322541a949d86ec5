import LinkgateCore

/// The scope a request is granted (INTERFACE §4).
public enum ScopeRequest {
    /// - Parameters:
    ///   - requested: the `scope` parameter: space-delimited, case-sensitive; nil or empty → the
    ///     client's registered scope.
    ///   - ceiling: the client's registered scope.
    ///   - user: the acting user; nil for an application principal with no execute-as user.
    /// - Returns: the highest value requested, when every value is known, within the ceiling,
    ///   `ADMIN`+ only for admins, and at most `WRITE` for an application principal.
    public static func grant(_ requested: String?, ceiling: Scope, user: User?) throws(OAuthError) -> Scope {
        let granted: Scope
        if let requested, !requested.isEmpty {
            let values = requested.split(separator: " ", omittingEmptySubsequences: true)
            guard !values.isEmpty else { throw .invalidScope("the scope parameter is empty") }
            var highest = Scope.read
            for value in values {
                guard let scope = Scope(rawValue: String(value)) else {
                    throw .invalidScope("unknown scope '\(value.prefix(40))'; use READ, WRITE, ADMIN or SYSTEM_ADMIN")
                }
                highest = max(highest, scope)
            }
            granted = highest
        } else {
            granted = ceiling
        }
        guard granted <= ceiling else {
            throw .invalidScope("scope \(granted.rawValue) exceeds this client's registered scope \(ceiling.rawValue)")
        }
        if granted >= .admin {
            guard let user else { throw .invalidScope("an application principal can hold at most WRITE") }
            guard user.admin else { throw .invalidScope("scope \(granted.rawValue) needs an admin user") }
        }
        return granted
    }
}
