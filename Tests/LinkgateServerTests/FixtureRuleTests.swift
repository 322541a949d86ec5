import Foundation
import LinkgateCore
import Testing
@testable import LinkgateServer

@Suite("Fixture mode rules (INTERFACE §12)")
struct FixtureRuleTests {
    static func fault(_ endpoint: FixtureEndpoint, _ match: FaultBook.Match = .init(), times: Int = 1) -> FaultBook.Fault {
        FaultBook.Fault(id: "", endpoint: endpoint, match: match, remaining: times, status: nil, error: "temporarily_unavailable",
                        errorDescription: nil, body: nil, contentType: nil, delayMs: nil, drop: false)
    }

    @Test func faultsMatchEveryGivenFieldAndAreSpentInOrder() {
        let book = FaultBook()
        let first = book.add(Self.fault(.token, .init(clientId: "jira", grantType: "refresh_token"), times: 2))
        let second = book.add(Self.fault(.token))
        #expect(first != second)
        // Another grant of the same client, or the same grant of another client: only the catch-all fault.
        #expect(book.take(endpoint: .token, clientId: "jira", grantType: "client_credentials", user: nil)?.id == second)
        #expect(book.take(endpoint: .token, clientId: "bitbucket", grantType: "refresh_token", user: nil) == nil)
        #expect(book.take(endpoint: .token, clientId: "jira", grantType: "refresh_token", user: nil)?.id == first)
        #expect(book.take(endpoint: .introspect, clientId: "jira", grantType: "refresh_token", user: nil) == nil)
        #expect(book.take(endpoint: .token, clientId: "jira", grantType: "refresh_token", user: nil)?.id == first)
        #expect(book.take(endpoint: .token, clientId: "jira", grantType: "refresh_token", user: nil) == nil)
        #expect(book.all.isEmpty)
    }

    @Test func faultUserMatchIgnoresCaseAndRemovalIsById() {
        let book = FaultBook()
        let id = book.add(Self.fault(.myself, .init(user: "Alice"), times: 5))
        #expect(book.take(endpoint: .myself, clientId: nil, grantType: nil, user: "bob") == nil)
        #expect(book.take(endpoint: .myself, clientId: nil, grantType: nil, user: "alice")?.id == id)
        #expect(book.all.first?.remaining == 4)
        #expect(!book.remove(id: "999"))
        #expect(book.remove(id: id))
        #expect(book.all.isEmpty)
    }

    @Test func scriptedAnswers() throws {
        var fault = Self.fault(.token)
        var response = FixtureMiddleware.answer(fault)
        #expect(response.status.code == 400)
        #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
        fault.status = 503
        response = FixtureMiddleware.answer(fault)
        #expect(response.status.code == 503)
        fault = Self.fault(.metadata)
        fault.error = nil
        fault.body = "<html>bad gateway</html>"
        fault.contentType = "text/html"
        fault.status = 502
        response = FixtureMiddleware.answer(fault)
        #expect(response.status.code == 502 && response.headers[.contentType] == "text/html")
        fault.status = nil
        fault.body = nil
        fault.delayMs = 200
        #expect(!fault.replacesAnswer)
    }

    @Test func journalMasksEverySecretLookingParameterAndKeepsTheRest() {
        let masked = JournalMask.pathAndQuery(
            path: "/rest/oauth2/latest/authorize",
            query: "client_id=jira&code=SECRETCODE&state=s1&code_verifier=V3R1F13R&oauth_token=TOK&password=pw&scope=READ"
                + "&refresh_token=RT&client_secret=CS&client_assertion=JWT&next=%2Fx%3Foauth_token%3DNT&Access_Token=AT"
                + "&code_challenge=CH&code_challenge_method=S256&expand=all&oauth_verifier=OV")
        for clear in ["client_id=jira", "state=s1", "scope=READ", "code_challenge=CH", "code_challenge_method=S256", "expand=all"] {
            #expect(masked.contains(clear))
        }
        for secret in ["SECRETCODE", "V3R1F13R", "TOK", "pw&", "RT", "CS", "JWT", "NT", "AT", "OV"] { #expect(!masked.contains(secret)) }
        #expect(JournalMask.pathAndQuery(path: "/x", query: "a=%ZZ") == "/x?***")
        #expect(JournalMask.pathAndQuery(path: "/x", query: nil) == "/x")
    }

    @Test func journalFiltersBySinceAndEndpointAndKeepsCountingAfterClear() {
        let journal = Journal(capacity: 3)
        func entry(_ endpoint: FixtureEndpoint?) -> Journal.Entry {
            Journal.Entry(id: 0, time: 1, method: "GET", path: "/", endpoint: endpoint, status: 200, clientId: nil, grantType: nil,
                          user: nil, oauth1: nil)
        }
        for endpoint in [FixtureEndpoint.token, .login, .token, nil] { journal.append(entry(endpoint)) }
        #expect(journal.entries().map(\.id) == [2, 3, 4])  // capacity 3: the oldest went
        #expect(journal.entries(endpoint: .token).map(\.id) == [3])
        #expect(journal.entries(since: 3).map(\.id) == [4])
        journal.clear()
        journal.append(entry(.login))
        #expect(journal.entries().map(\.id) == [5])
    }

    @Test func clockSetsAdvancesAndResetsToTheSeedTime() {
        let clock = FixtureClock(start: 1_000_000)
        #expect(abs(clock.now() - 1_000_000) <= 1)
        #expect(abs(clock.advance(3600) - 1_003_600) <= 1)
        #expect(abs(clock.set(2_000_000_000) - 2_000_000_000) <= 1)
        clock.reset()
        #expect(abs(clock.now() - 1_000_000) <= 1)
        let real = FixtureClock(start: nil)
        #expect(abs(real.now() - Int64(Date().timeIntervalSince1970)) <= 1)
    }

    @Test func endpointNamesCoverEveryPathOfINTERFACE12() {
        #expect(FixtureEndpoint.allCases.map(\.rawValue).sorted() == ["authorize", "introspect", "login", "metadata", "myself",
            "oauth1-access-token", "oauth1-authorize", "oauth1-request-token", "revoke", "token", "verify"])
        #expect(FixtureEndpoint(path: "/plugins/servlet/oauth2/consent") == .authorize)
        #expect(FixtureEndpoint(path: "/rest/api/latest/myself") == .myself)
        #expect(FixtureEndpoint(path: "/admin") == nil)
    }
}
