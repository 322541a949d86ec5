import LinkgateCore

/// Everything the routes need, built once per application.
struct Services: Sendable {
    let config: ServerConfig
    let store: any LinkgateStore
    let accounts: UserAccounts
    let clients: ClientRegistry
    let sessions: Sessions
    let auth: Authenticator
    let pages: Pages
}
