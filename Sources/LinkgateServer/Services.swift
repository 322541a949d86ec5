import LinkgateCore
import OAuth1
import OAuth2

/// Everything storage must provide to the server.
public typealias ServerStore = LinkgateStore & OAuth2GrantStore & OAuth1Store

/// Everything the routes need, built once per application.
struct Services: Sendable {
    let config: ServerConfig
    let store: any ServerStore
    let accounts: UserAccounts
    let clients: ClientRegistry
    let sessions: Sessions
    let auth: Authenticator
    let pages: Pages
    let oauth2: AuthorizationServer
    let consumers: ConsumerRegistry
    let oauth1Flow: ThreeLeggedFlow
    let identity: IdentityCell
    let audit: AuditLog
    let now: @Sendable () -> Int64
    /// Set in fixture mode only (INTERFACE §12).
    var fixture: FixtureMode? = nil
}
