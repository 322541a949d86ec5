import Hummingbird
import LinkgateCore

/// `GET /rest/api/latest/audit` (INTERFACE §8): admins read the audit log, newest first, in pages.
struct AuditRoutes {
    let services: Services

    func add(to router: Router<LinkgateContext>) {
        router.get("/rest/api/latest/audit", use: list)
    }

    @Sendable func list(_ request: Request, context: LinkgateContext) async throws -> Response {
        _ = try await services.auth.admin(request, context)
        guard let pairs = request.queryPairs else { throw APIError.invalidRequest("the query string is malformed") }
        let known: Set<String> = ["since", "limit", "client", "user", "action", "cursor"]
        if let unknown = pairs.first(where: { !known.contains($0.name) }) {
            throw APIError.invalidRequest("unknown parameter '\(unknown.name.prefix(40))'")
        }
        func integer(_ name: String, _ range: ClosedRange<Int64>) throws -> Int64? {
            guard let text = try pairs.single(name) else { return nil }
            guard let value = Int64(text), range.contains(value) else {
                throw APIError.invalidRequest("\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return value
        }
        let limit = Int(try integer("limit", 1...500) ?? 100)
        let query = AuditQuery(since: try integer("since", 0...Int64(Int32.max) * 4), limit: limit + 1, client: try pairs.single("client"),
                               user: try pairs.single("user"), action: try pairs.single("action"),
                               before: try integer("cursor", 1...Int64.max))
        let found = try await services.store.auditEntries(query)
        let page = found.prefix(limit)
        return jsonResponse(.object([
            "entries": .array(page.map { entry in
                .object([
                    "id": .string(String(entry.id)), "time": .number(Double(entry.time)), "actor": .optional(entry.actor),
                    "client": .optional(entry.client), "subject": .optional(entry.subject), "action": .string(entry.action),
                    "outcome": .string(entry.outcome.rawValue), "detail": .optional(entry.detail),
                ])
            }),
            // More than a page matched: the cursor asks for entries older than the last shown.
            "next": found.count > limit ? .string(String(page.last!.id)) : .null,
        ]))
    }
}
