import Hummingbird
import LinkgateCore

/// `/admin/audit`: the audit log, filtered by client, user and action (issue 6).
struct AuditConsole {
    let console: Console

    func add(to router: Router<LinkgateContext>) {
        router.get("/admin/audit", use: page)
    }

    static let actions = [AuditAction.tokenIssue, AuditAction.tokenUse, AuditAction.tokenRevoke, AuditAction.grantRevoke,
                          AuditAction.applicationRevoke, AuditAction.userCreate, AuditAction.userUpdate, AuditAction.userDelete,
                          AuditAction.clientCreate, AuditAction.clientUpdate, AuditAction.clientResetSecret, AuditAction.clientDelete,
                          AuditAction.consumerCreate, AuditAction.consumerUpdate, AuditAction.consumerDelete]

    @Sendable func page(_ request: Request, context: LinkgateContext) async throws -> Response {
        let session = try await console.admin(request)
        let pairs = request.queryPairs ?? []
        func filter(_ name: String) -> String? {
            (try? pairs.single(name)).flatMap { $0 }.flatMap { $0.isEmpty ? nil : String($0.prefix(200)) }
        }
        let client = filter("client"), user = filter("user"), action = filter("action")
        let cursor = filter("cursor").flatMap { Int64($0) }
        let limit = 50
        let found = try await console.services.store.auditEntries(
            AuditQuery(limit: limit + 1, client: client, user: user, action: action, before: cursor))
        let entries = found.prefix(limit).map { entry -> [String: Any] in
            ["time": Console.date(entry.time), "actor": entry.actor ?? "—", "client": entry.client ?? "—", "subject": entry.subject ?? "—",
             "action": entry.action, "outcome": entry.outcome.rawValue, "failure": entry.outcome == .failure, "detail": entry.detail ?? ""]
        }
        var older: String? = nil
        if found.count > limit, let last = found.prefix(limit).last {
            var query = [("cursor", String(last.id))]
            if let client { query.append(("client", client)) }
            if let user { query.append(("user", user)) }
            if let action { query.append(("action", action)) }
            older = "/admin/audit?" + query.map { "\($0.0)=\(FormURLEncoded.encode($0.1))" }.joined(separator: "&")
        }
        return try console.render("admin-audit", session, [
            "entries": entries, "hasEntries": !entries.isEmpty, "older": older as Any,
            "filter": ["client": client ?? "", "user": user ?? ""],
            "actions": Self.actions.map { ["value": $0, "selected": $0 == action] },
        ], section: "audit")
    }
}
