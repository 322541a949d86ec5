import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
@testable import LinkgateServer

@Suite("OAuth 2.0 client registry REST (INTERFACE §5)")
struct ClientAPITests {
    static let keys: Set<String> = ["id", "clientId", "clientSecret", "name", "redirects", "scope", "impersonation", "publicKey", "executeAs", "allowedAddresses"]

    @Test("create shows the secret once; list and get never do; reset replaces it; delete removes")
    func lifecycle() async throws {
        try await TestApp().run { client in
            let created = try await client.post("/rest/oauth2/latest/client",
                                                json: #"{"name":"Jira","redirects":["https://jira.example/cb"],"scope":"WRITE"}"#)
            #expect(created.status == .created)
            guard case .object(let entity) = created.json else { Issue.record("not an object"); return }
            #expect(Set(entity.keys) == Self.keys)
            #expect(entity["publicKey"] == .null && entity["executeAs"] == .null && entity["impersonation"] == .bool(false))
            let clientId = try #require(entity["clientId"]?.string)
            let secret = try #require(entity["clientSecret"]?.string)
            #expect(secret.count == 43)

            let list = try await client.get("/rest/oauth2/latest/client")
            #expect(list.json?.array?.count == 1)
            #expect(list.json?.array?.first?["clientSecret"] == .null)
            #expect(!list.text.contains(secret))
            let shown = try await client.get("/rest/oauth2/latest/client/\(clientId)")
            #expect(shown["clientSecret"] == .null && shown["name"]?.string == "Jira")

            let changed = try await client.put("/rest/oauth2/latest/client/\(clientId)", json: #"{"scope":"READ","redirects":[]}"#)
            #expect(changed.status == .ok && changed["scope"]?.string == "READ" && changed["name"]?.string == "Jira")
            #expect(changed["redirects"] == .array([]))

            let reset = try await client.put("/rest/oauth2/latest/client/reset/\(clientId)", json: "")
            #expect(reset.status == .ok)
            let newSecret = try #require(reset["clientSecret"]?.string)
            #expect(newSecret != secret && newSecret.count == 43)

            #expect(try await client.delete("/rest/oauth2/latest/client/\(clientId)").status == .noContent)
            #expect(try await client.get("/rest/oauth2/latest/client/\(clientId)").status == .notFound)
            do {
                let response = try await client.put("/rest/oauth2/latest/client/reset/\(clientId)", json: "")
                #expect(response.status == .notFound)
            }
        }
    }

    @Test("a GET-modify-PUT round trip is accepted; read-only keys cannot change")
    func roundTrip() async throws {
        try await TestApp().run { client in
            let created = try await client.post("/rest/oauth2/latest/client", json: #"{"name":"Jira","redirects":[],"scope":"READ"}"#)
            let clientId = try #require(created["clientId"]?.string)
            var entity = try await client.get("/rest/oauth2/latest/client/\(clientId)").text
            entity = entity.replacingOccurrences(of: #""name":"Jira""#, with: #""name":"Jira DC""#)
            let put = try await client.put("/rest/oauth2/latest/client/\(clientId)", json: entity)
            #expect(put.status == .ok && put["name"]?.string == "Jira DC")
            do {
                let response = try await client.put("/rest/oauth2/latest/client/\(clientId)", json: #"{"clientId":"other"}"#)
                #expect(response.status == .badRequest)
            }
            do {
                let response = try await client.put("/rest/oauth2/latest/client/\(clientId)", json: #"{"id":"other","name":"X"}"#)
                #expect(response.status == .badRequest)
            }
            #expect(try await client.get("/rest/oauth2/latest/client/\(clientId)")["name"]?.string == "Jira DC")
            do {
                let response = try await client.put("/rest/oauth2/latest/client/\(clientId)", json: #"{"clientSecret":"mine"}"#)
                #expect(response.status == .badRequest)
            }
        }
    }

    @Test("hostile client bodies get 400 and change nothing", arguments: [
        #"{"name":"X","redirects":["javascript:alert(1)"],"scope":"READ"}"#,
        #"{"name":"X","redirects":["data:text/html,x"],"scope":"READ"}"#,
        #"{"name":"X","redirects":["file:///etc/passwd"],"scope":"READ"}"#,
        #"{"name":"X","redirects":["https://a.example/cb#"],"scope":"READ"}"#,
        #"{"name":"X","redirects":["https://a.example/cb#f"],"scope":"READ"}"#,
        #"{"name":"X","redirects":["http://evil.example/cb"],"scope":"READ"}"#,
        #"{"name":"X","redirects":["/cb"],"scope":"READ"}"#,
        #"{"name":"X","redirects":"https://a.example/cb","scope":"READ"}"#,
        #"{"name":"X","redirects":[1],"scope":"READ"}"#,
        #"{"name":"X","scope":"READ"}"#,
        #"{"name":"X","redirects":[],"scope":"read"}"#,
        #"{"name":"X","redirects":[],"scope":"READ WRITE"}"#,
        #"{"name":"X","redirects":[]}"#,
        #"{"name":"","redirects":[],"scope":"READ"}"#,
        #"{"name":"X","redirects":[],"scope":"READ","executeAs":"ghost"}"#,
        #"{"name":"X","redirects":[],"scope":"READ","publicKey":"not a key"}"#,
        #"{"name":"X","redirects":[],"scope":"READ","impersonation":true}"#,
        #"{"name":"X","redirects":[],"scope":"READ","impersonation":"true"}"#,
        #"{"name":"X","redirects":[],"scope":"READ","secret":"mine"}"#,
        "[1,2]", "nope",
    ])
    func hostile(body: String) async throws {
        try await TestApp().run { client in
            let response = try await client.post("/rest/oauth2/latest/client", json: body)
            #expect(response.status == .badRequest)
            #expect(response.errorCode == "invalid_request" && response.isErrorBody)
            #expect(try await client.get("/rest/oauth2/latest/client").text == "[]")
        }
    }

    @Test("names are unique (409); markup in names is kept as data")
    func names() async throws {
        try await TestApp().run { client in
            let body = #"{"name":"<img src=x onerror=alert(1)>","redirects":[],"scope":"READ"}"#
            let created = try await client.post("/rest/oauth2/latest/client", json: body)
            #expect(created.status == .created && created["name"]?.string == "<img src=x onerror=alert(1)>")
            #expect(!created.text.contains("<img"))  // escaped as \u003c in JSON
            let again = try await client.post("/rest/oauth2/latest/client", json: body)
            #expect(again.status == .conflict && again.errorCode == "conflict")
        }
    }

    @Test("loopback http, IPv6 loopback, queries and execute-as users are accepted")
    func accepted() async throws {
        try await TestApp().run { client in
            let body = #"{"name":"Local","redirects":["http://127.0.0.1:9000/cb","http://localhost/cb","http://[::1]:8080/cb","https://a.example/cb?x=1"],"scope":"SYSTEM_ADMIN","executeAs":"admin"}"#
            let created = try await client.post("/rest/oauth2/latest/client", json: body)
            #expect(created.status == .created)
            #expect(created["executeAs"]?.string == "admin" && created["scope"]?.string == "SYSTEM_ADMIN")
            // The execute-as user cannot be deleted while the client uses it.
            try await client.post("/rest/api/latest/user", json: #"{"name":"second","password":"second-pass","admin":true}"#)
            _ = try await client.put("/rest/oauth2/latest/client/\(created["clientId"]!.string!)", json: #"{"executeAs":"second"}"#)
            let delete = try await client.delete("/rest/api/latest/user/second", headers: adminAuth)
            #expect(delete.status == .conflict)
        }
    }
}
