import LinkgateCore
import Synchronization

/// Fixture mode's scripted faults (INTERFACE §12): the next `times` requests to an endpoint that
/// match get this answer instead of the real one (an OAuth error, a raw body, a delay or a
/// dropped connection). Faults are tried oldest first; a used-up fault disappears.
final class FaultBook: Sendable {
    struct Match: Sendable, Equatable {
        var clientId: String?
        var grantType: String?
        var user: String?
    }

    struct Fault: Sendable {
        var id: String
        var endpoint: FixtureEndpoint
        var match: Match
        var remaining: Int
        var status: Int?
        var error: String?
        var errorDescription: String?
        var body: String?
        var contentType: String?
        var delayMs: Int?
        var drop: Bool

        var json: JSONValue {
            var matchJSON: [String: JSONValue] = [:]
            if let clientId = match.clientId { matchJSON["client_id"] = .string(clientId) }
            if let grantType = match.grantType { matchJSON["grant_type"] = .string(grantType) }
            if let user = match.user { matchJSON["user"] = .string(user) }
            return .object([
                "id": .string(id), "endpoint": .string(endpoint.rawValue), "match": .object(matchJSON), "times": .number(Double(remaining)),
                "status": status.map { .number(Double($0)) } ?? .null, "error": .optional(error), "errorDescription": .optional(errorDescription),
                "body": .optional(body), "contentType": .optional(contentType), "delayMs": delayMs.map { .number(Double($0)) } ?? .null,
                "drop": .bool(drop),
            ])
        }

        /// Whether this fault replaces the answer (else it only delays the normal one).
        var replacesAnswer: Bool { drop || status != nil || error != nil || body != nil }
    }

    private struct State {
        var faults: [Fault] = []
        var nextId = 1
    }

    private let state = Mutex(State())

    /// Adds a fault; returns its id.
    func add(_ fault: Fault) -> String {
        state.withLock { state in
            var fault = fault
            fault.id = String(state.nextId)
            state.nextId += 1
            state.faults.append(fault)
            return fault.id
        }
    }

    var all: [Fault] { state.withLock { $0.faults } }

    /// Removes one fault (false: no such id) or, with nil, all.
    @discardableResult
    func remove(id: String?) -> Bool {
        state.withLock { state in
            guard let id else { state.faults.removeAll(); return true }
            guard let index = state.faults.firstIndex(where: { $0.id == id }) else { return false }
            state.faults.remove(at: index)
            return true
        }
    }

    /// The first fault for `endpoint` whose every given match field equals the request's, spending
    /// one of its uses.
    func take(endpoint: FixtureEndpoint, clientId: String?, grantType: String?, user: String?) -> Fault? {
        state.withLock { state in
            guard let index = state.faults.firstIndex(where: { fault in
                fault.endpoint == endpoint
                    && (fault.match.clientId == nil || fault.match.clientId == clientId)
                    && (fault.match.grantType == nil || fault.match.grantType == grantType)
                    && (fault.match.user == nil || fault.match.user?.lowercased() == user?.lowercased())
            }) else { return nil }
            let fault = state.faults[index]
            state.faults[index].remaining -= 1
            if state.faults[index].remaining <= 0 { state.faults.remove(at: index) }
            return fault
        }
    }
}
