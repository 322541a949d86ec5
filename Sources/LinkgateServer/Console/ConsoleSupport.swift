import Foundation
import Hummingbird
import LinkgateCore
import NIOCore

/// A redirect thrown from a page handler (for example: not logged in → login).
struct PageRedirect: Error, HTTPResponseError {
    let location: String
    var status: HTTPResponse.Status { .seeOther }

    func response(from request: Request, context: some RequestContext) throws -> Response { seeOther(location) }
}

/// What every console page needs: an admin's session.
struct Console {
    let services: Services

    /// The admin session of `request`; not logged in → the login page, not an admin → 403.
    func admin(_ request: Request) async throws -> Sessions.Current {
        guard let session = try await services.sessions.current(request) else {
            throw PageRedirect(location: "/login?next=" + FormURLEncoded.encode(request.pathAndQuery))
        }
        guard session.user.admin else {
            throw PageError(status: .forbidden, title: "Administrators only", message: "The console is for administrators.")
        }
        return session
    }

    /// A POSTed console form: read, CSRF-checked against the admin's session.
    func form(_ request: Request) async throws -> (session: Sessions.Current, form: [(name: String, value: String)]) {
        let session = try await admin(request)
        let form = try await request.readPageForm()
        guard Sessions.checkCSRF(try form.single("csrf_token"), session: session) else {
            throw PageError.forbidden("The form did not carry this session's token. Nothing was changed.")
        }
        return (session, form)
    }

    /// Renders a console page: the admin navigation, the CSRF token and `values`.
    func render(_ template: String, _ session: Sessions.Current, _ values: [String: Any], section: String,
                status: HTTPResponse.Status = .ok) throws -> Response {
        var all = values
        all["csrfToken"] = session.csrfToken
        all["admin"] = ["name": session.user.name, "displayName": session.user.displayName]
        let sections = ["links", "users", "audit"] + (services.fixture == nil ? [] : ["requests"]) + ["system"]
        all["nav"] = sections.map { ["id": $0, "label": $0 == "links" ? "Application links" : $0.capitalized,
                                     "href": $0 == "links" ? "/admin" : "/admin/\($0)", "current": $0 == section] }
        return try services.pages.render(template, all, status: status)
    }

    /// Field errors for a form: the message goes next to its field.
    static func fieldErrors(_ error: ValidationError) -> [String: String] { [error.field: error.message] }

    static func date(_ epoch: Int64?) -> String {
        guard let epoch else { return "never" }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withSpaceBetweenDateAndTime]
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(epoch))) + " UTC"
    }
}

extension Array where Element == (name: String, value: String) {
    /// A checkbox: present and "on" (or "true").
    func checked(_ name: String) -> Bool {
        contains { $0.name == name && ($0.value == "on" || $0.value == "true") }
    }

    /// A text field, trimmed; empty → nil.
    func text(_ name: String) throws -> String? {
        guard let value = try single(name) else { return nil }
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }
}
