import LinkgateCore

/// Who a request acts for, and how it proved it (INTERFACE §3 `myself.auth`).
public struct Principal: Sendable {
    public enum AuthProtocol: String, Sendable { case basic, session, oauth2, oauth1 }
    public enum Mode: String, Sendable { case user, impersonation, application }

    /// The acting user; nil only for an application principal with no execute-as user.
    public var user: User?
    public var authProtocol: AuthProtocol
    /// Null for Basic and session callers.
    public var mode: Mode?
    /// Client id or consumer key; null for Basic and session callers.
    public var client: String?
    /// Granted scope; nil means limited only by the user's own rights (Basic, session, OAuth 1.0).
    public var scope: Scope?

    /// Whether the credential's scope covers `required`.
    public func allows(_ required: Scope) -> Bool { scope.map { $0.includes(required) } ?? true }
}
