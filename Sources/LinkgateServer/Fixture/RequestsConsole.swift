import Hummingbird

/// `/admin/requests` in fixture mode (INTERFACE §12): the request journal, newest first,
/// refreshing itself every 2 seconds unless paused.
struct RequestsConsole {
    let console: Console

    func add(to router: Router<LinkgateContext>) {
        router.get("/admin/requests", use: page)
    }

    @Sendable func page(_ request: Request, context: LinkgateContext) async throws -> Response {
        let session = try await console.admin(request)
        guard let journal = console.services.fixture?.journal else { throw APIError.notFound("no such resource") }
        let live = request.uri.queryParameters["live"] != "0"
        let entries = journal.entries().suffix(200).reversed().map { entry -> [String: Any] in
            ["id": entry.id, "time": Console.date(entry.time), "method": entry.method, "path": entry.path,
             "endpoint": entry.endpoint?.rawValue ?? "—", "status": entry.status == 0 ? "dropped" : String(entry.status),
             "failure": entry.status == 0 || entry.status >= 400, "clientId": entry.clientId ?? "—", "grantType": entry.grantType ?? "—",
             "user": entry.user ?? "—",
             "oauth1": entry.oauth1.map { ["baseString": $0.baseString, "valid": $0.signatureValid] as [String: Any] } as Any]
        }
        return try console.render("admin-requests", session, ["entries": Array(entries), "hasEntries": !entries.isEmpty, "live": live],
                                  section: "requests")
    }
}
