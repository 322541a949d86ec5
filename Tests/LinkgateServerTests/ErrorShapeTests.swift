import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
@testable import LinkgateServer

/// INTERFACE §1: errors of `/rest/api/…` also carry Jira's `errorMessages`/`errors`; the OAuth
/// endpoints, `/rest/oauth2` and `/rest/oauth1` keep exactly `{"error","error_description"}`.
@Suite("Error shapes (INTERFACE §1)")
struct ErrorShapeTests {
    @Test("/rest/api errors carry errorMessages = [error_description] and errors = {}")
    func jiraKeysOnRestAPI() async throws {
        try await TestApp().run { client in
            let missing = try await client.get("/rest/api/latest/user/nobody")
            #expect(missing.status == .notFound && missing.isJiraErrorBody)
            #expect(missing["errorMessages"] == .array([.string("no user named 'nobody'")]))

            let anonymous = try await client.get("/rest/api/latest/myself", headers: [:])
            #expect(anonymous.status == .unauthorized && anonymous.isJiraErrorBody && anonymous.errorCode == "unauthorized")

            let bad = try await client.post("/rest/api/latest/user", json: #"{"name":"bob"}"#)
            #expect(bad.status == .badRequest && bad.isJiraErrorBody && bad.errorCode == "invalid_request")

            let unknownRoute = try await client.get("/rest/api/latest/no-such-resource")
            #expect(unknownRoute.status == .notFound && unknownRoute.isJiraErrorBody)
        }
    }

    @Test("OAuth 2.0 and OAuth 1.0a admin resources keep exactly error and error_description")
    func plainElsewhere() async throws {
        try await TestApp().run { client in
            let client2 = try await client.get("/rest/oauth2/latest/client/nope")
            #expect(client2.status == .notFound && client2.isPlainErrorBody)
            let consumer = try await client.get("/rest/oauth1/latest/consumer/nope")
            #expect(consumer.status == .notFound && consumer.isPlainErrorBody)
            let badClient = try await client.post("/rest/oauth2/latest/client", json: #"{"name":1}"#)
            #expect(badClient.status == .badRequest && badClient.isPlainErrorBody)
            let token = try await client.execute(
                uri: "/rest/oauth2/latest/token", method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: "grant_type=password"))
            #expect(token.status.code >= 400 && token.isPlainErrorBody)
            #expect(token["errorMessages"] == nil)
        }
    }
}
