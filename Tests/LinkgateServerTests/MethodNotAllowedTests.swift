import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
@testable import LinkgateServer

/// RFC 9110 §15.5.6, found by schemathesis' coverage phase (undeclared methods): a known path with
/// a method it does not have is `405` with `Allow`, not `404`.
@Suite("405 Method Not Allowed")
struct MethodNotAllowedTests {
    @Test("a route's path with another method is 405 with Allow; unknown paths and handlers' 404s stay 404")
    func methodNotAllowed() async throws {
        try await TestApp().run { client in
            let token = try await client.execute(uri: "/rest/oauth2/latest/token", method: .get)
            #expect(token.status == .methodNotAllowed)
            #expect(token.headers[.allow] == "POST")
            #expect(token.isPlainErrorBody && token.errorCode == "invalid_request")

            // A template with a capture: every method of every matching template.
            let client405 = try await client.execute(uri: "/rest/oauth2/latest/client/some-id", method: .patch, headers: adminAuth)
            #expect(client405.status == .methodNotAllowed)
            #expect(client405.headers[.allow] == "DELETE, GET, PUT")

            let user = try await client.execute(uri: "/rest/api/latest/user", method: .delete, headers: adminAuth)
            #expect(user.status == .methodNotAllowed && user.headers[.allow] == "GET, POST" && user.isJiraErrorBody)

            let unknown = try await client.execute(uri: "/rest/api/latest/no-such-resource", method: .delete)
            #expect(unknown.status == .notFound && unknown.headers[.allow] == nil)

            let missingUser = try await client.execute(uri: "/rest/api/latest/user/nobody", method: .get, headers: adminAuth)
            #expect(missingUser.status == .notFound && missingUser.isJiraErrorBody)

            // serve has no control API at all (INTERFACE §12): still 404 for every method.
            let fixture = try await client.execute(uri: "/__fixture/reset", method: .get)
            #expect(fixture.status == .notFound)

            let fine = try await client.execute(uri: "/status", method: .get)
            #expect(fine.status == .ok)
        }
    }
}
