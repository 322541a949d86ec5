import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
@testable import LinkgateServer

@Suite("Service and users REST (INTERFACE §1–3)")
struct UserAPITests {
    @Test("GET /status answers RUNNING with the security headers")
    func status() async throws {
        try await TestApp().run { client in
            let response = try await client.get("/status", headers: [:])
            #expect(response.status == .ok)
            #expect(response.text == #"{"state":"RUNNING"}"#)
            #expect(response.headers[.contentType] == "application/json; charset=utf-8")
            #expect(response.headers[.xFrameOptions] == "DENY")
            #expect(response.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
            #expect(response.headers[.referrerPolicy] == "no-referrer")
        }
    }

    @Test("an admin creates, reads, lists, changes and deletes a user")
    func lifecycle() async throws {
        try await TestApp().run { client in
            let created = try await client.post("/rest/api/latest/user",
                json: #"{"name":"alice","password":"alice-pass-1","displayName":"Alice <b>A</b>","email":"alice@example.com"}"#)
            #expect(created.status == .created)
            #expect(created.json == .object(["name": .string("alice"), "displayName": .string("Alice <b>A</b>"),
                                             "email": .string("alice@example.com"), "admin": .bool(false),
                                             "directory": .string("local")]))
            #expect(!created.text.contains("alice-pass-1") && !created.text.contains("scrypt"))

            let list = try await client.get("/rest/api/latest/user")
            #expect(list.json?.array?.compactMap { $0["name"]?.string } == ["admin", "alice"])

            let changed = try await client.put("/rest/api/latest/user/alice", json: #"{"email":null,"admin":true}"#)
            #expect(changed.status == .ok)
            #expect(changed["email"] == .null && changed["admin"] == .bool(true) && changed["displayName"]?.string == "Alice <b>A</b>")

            let newPassword = try await client.put("/rest/api/latest/user/alice", json: #"{"password":"alice-pass-2"}"#)
            #expect(newPassword.status == .ok)
            #expect(try await client.get("/rest/api/latest/myself", headers: basic("alice", "alice-pass-1")).status == .unauthorized)
            #expect(try await client.get("/rest/api/latest/myself", headers: basic("alice", "alice-pass-2")).status == .ok)

            #expect(try await client.delete("/rest/api/latest/user/alice").status == .noContent)
            let gone = try await client.get("/rest/api/latest/user/alice")
            #expect(gone.status == .notFound && gone.errorCode == "not_found" && gone.isErrorBody)
            #expect(try await client.delete("/rest/api/latest/user/alice").status == .notFound)
        }
    }

    @Test("hostile user bodies get 400 invalid_request and change nothing", arguments: [
        "", "not json", "[]", "\"x\"", "{", #"{"name":"bob"}"#, #"{"password":"bob-pass-123"}"#,
        #"{"name":1,"password":"bob-pass-123"}"#, #"{"name":"bob","password":"bob-pass-123","admin":"yes"}"#,
        #"{"name":"bob","password":"bob-pass-123","admin":1}"#, #"{"name":"bob","password":"bob-pass-123","role":"admin"}"#,
        #"{"name":"bob","password":"short"}"#, #"{"name":"x'); DROP TABLE users;--","password":"bob-pass-123"}"#,
        #"{"name":"<script>alert(1)</script>","password":"bob-pass-123"}"#, #"{"name":"bob","password":"bob-pass-123","email":"nope"}"#,
        #"{"name":"bob","password":"bob-pass-123","displayName":""}"#, #"{"name":"bob","password":"bob-pass-123","email":5}"#,
        #"{"name":null,"password":"bob-pass-123"}"#,
    ])
    func hostileBodies(body: String) async throws {
        try await TestApp().run { client in
            let before = try await client.get("/rest/api/latest/user").text
            let response = try await client.post("/rest/api/latest/user", json: body)
            #expect(response.status == .badRequest)
            #expect(response.errorCode == "invalid_request" && response.isErrorBody)
            #expect(try await client.get("/rest/api/latest/user").text == before)
        }
    }

    @Test("duplicate names, also differing in case, are 409 conflict")
    func duplicates() async throws {
        try await TestApp().run { client in
            #expect(try await client.post("/rest/api/latest/user", json: #"{"name":"Bob","password":"bob-pass-123"}"#).status == .created)
            let again = try await client.post("/rest/api/latest/user", json: #"{"name":"bob","password":"bob-pass-123"}"#)
            #expect(again.status == .conflict && again.errorCode == "conflict")
        }
    }

    @Test("a body over 64 KiB is 413, declared or chunked")
    func tooLarge() async throws {
        try await TestApp().run { client in
            let big = #"{"name":"bob","password":""# + String(repeating: "x", count: 70_000) + #""}"#
            let response = try await client.post("/rest/api/latest/user", json: big)
            #expect(response.status == .contentTooLarge && response.isErrorBody)
            #expect(try await client.get("/rest/api/latest/user/bob").status == .notFound)
        }
    }

    @Test("the last admin can be neither deleted nor demoted (409)")
    func lastAdmin() async throws {
        try await TestApp().run { client in
            let delete = try await client.delete("/rest/api/latest/user/admin")
            #expect(delete.status == .conflict && delete.errorCode == "conflict")
            let demote = try await client.put("/rest/api/latest/user/admin", json: #"{"admin":false}"#)
            #expect(demote.status == .conflict)
            #expect(try await client.get("/rest/api/latest/myself")["admin"] == .bool(true))
        }
    }

    @Test("a user cannot be renamed; unknown keys on PUT are refused")
    func putRules() async throws {
        try await TestApp().run { client in
            do {
                let response = try await client.put("/rest/api/latest/user/admin", json: #"{"name":"root"}"#)
                #expect(response.status == .badRequest)
            }
            do {
                let response = try await client.put("/rest/api/latest/user/admin", json: #"{"name":"admin","displayName":"Boss"}"#)
                #expect(response.status == .ok)
            }
            do {
                let response = try await client.put("/rest/api/latest/user/admin", json: #"{"hash":"x"}"#)
                #expect(response.status == .badRequest)
            }
            do {
                let response = try await client.put("/rest/api/latest/user/ghost", json: #"{"displayName":"x"}"#)
                #expect(response.status == .notFound)
            }
        }
    }
}

@Suite("REST authentication (INTERFACE §3)")
struct AuthTests {
    @Test("missing, wrong and malformed credentials are 401 with WWW-Authenticate", arguments: [
        [String: String](), ["Authorization": "Basic " + "YWRtaW46d3Jvbmc="], ["Authorization": "Basic !!!"],
        ["Authorization": "Basic YWRtaW4="], ["Authorization": "Digest x"], ["Authorization": "Basic"],
    ])
    func unauthorized(headers: [String: String]) async throws {
        try await TestApp().run { client in
            var fields = HTTPFields()
            for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
            let response = try await client.get("/rest/api/latest/myself", headers: fields)
            #expect(response.status == .unauthorized)
            #expect(response.errorCode == "unauthorized" && response.isErrorBody)
            #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Basic realm=") == true)
        }
    }

    @Test("a non-admin gets 403 on admin REST and 200 on myself")
    func nonAdmin() async throws {
        let app = try await TestApp()
        try await app.addUser("carol", password: "carol-pass-1")
        try await app.run { client in
            let carol = basic("carol", "carol-pass-1")
            for path in ["/rest/api/latest/user", "/rest/oauth2/latest/client"] {
                let response = try await client.get(path, headers: carol)
                #expect(response.status == .forbidden && response.errorCode == "forbidden")
            }
            let create = try await client.post("/rest/api/latest/user", json: #"{"name":"eve","password":"eve-pass-123","admin":true}"#,
                                               headers: jsonHeaders(carol))
            #expect(create.status == .forbidden)
            #expect(try await client.get("/rest/api/latest/user/eve").status == .notFound)

            let me = try await client.get("/rest/api/latest/myself", headers: carol)
            #expect(me.status == .ok)
            #expect(me.json == .object([
                "name": .string("carol"), "displayName": .string("carol"), "email": .null, "admin": .bool(false),
                "directory": .string("local"), "auth": .object(["protocol": .string("basic"), "mode": .null, "client": .null, "scope": .null]),
            ]))
            let renamed = try await client.put("/rest/api/latest/myself", json: #"{"displayName":"Carol C."}"#, headers: jsonHeaders(carol))
            #expect(renamed.status == .ok && renamed["displayName"]?.string == "Carol C.")
            do {
                let response = try await client.put("/rest/api/latest/myself", json: #"{"admin":true}"#, headers: jsonHeaders(carol))
                #expect(response.status == .badRequest)
            }
        }
    }

    @Test("unknown paths are a JSON 404")
    func notFound() async throws {
        try await TestApp().run { client in
            let response = try await client.get("/rest/api/latest/nothing-here")
            #expect(response.status == .notFound && response.errorCode == "not_found")
        }
    }
}
