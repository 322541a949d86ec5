import Testing
@testable import LinkgateServer

@Suite("Operations (INTERFACE §15): route labels and uptime")
struct OperationsTests {
    @Test("metrics label a request by its route template; a path no route serves is `unmatched`")
    func routeLabels() {
        #expect(RequestLogMiddleware<LinkgateContext>.routeLabel("/rest/api/latest/user/{name}") == "/rest/api/latest/user/{name}")
        #expect(RequestLogMiddleware<LinkgateContext>.routeLabel(nil) == "unmatched")
        #expect(RequestLogMiddleware<LinkgateContext>.routeLabel("NotFound") == "unmatched")
    }

    @Test("uptime reads in the largest units that matter")
    func uptime() {
        #expect(SystemConsole.uptime(.seconds(5)) == "0 min 5 s")
        #expect(SystemConsole.uptime(.seconds(3_725)) == "1 h 2 min")
        let long: Int64 = 3 * 86_400 + 4 * 3_600 + 5 * 60 + 9
        #expect(SystemConsole.uptime(.seconds(long)) == "3 d 4 h 5 min")
        #expect(SystemConsole.uptime(.seconds(-1)) == "0 min 0 s")
    }
}
