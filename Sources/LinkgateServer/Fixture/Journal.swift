import LinkgateCore
import Synchronization

/// Fixture mode's request journal (INTERFACE §12): what the application sent and what it got,
/// oldest first, with every token, code, verifier, secret and password masked. Bounded: the
/// oldest entries go first past `capacity`.
final class Journal: Sendable {
    struct Entry: Sendable {
        var id: Int64
        var time: Int64
        var method: String
        var path: String
        var endpoint: FixtureEndpoint?
        var status: Int
        var clientId: String?
        var grantType: String?
        var user: String?
        var oauth1: (baseString: String, signatureValid: Bool)?

        var json: JSONValue {
            .object([
                "id": .number(Double(id)), "time": .number(Double(time)), "method": .string(method), "path": .string(path),
                "endpoint": .optional(endpoint?.rawValue), "status": .number(Double(status)), "clientId": .optional(clientId),
                "grantType": .optional(grantType), "user": .optional(user),
                "oauth1": oauth1.map { .object(["baseString": .string($0.baseString), "signatureValid": .bool($0.signatureValid)]) } ?? .null,
            ])
        }
    }

    private struct State {
        var entries: [Entry] = []
        var nextId: Int64 = 1
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 10_000) { self.capacity = capacity }

    func append(_ entry: Entry) {
        state.withLock { state in
            var entry = entry
            entry.id = state.nextId
            state.nextId += 1
            state.entries.append(entry)
            if state.entries.count > capacity { state.entries.removeFirst(state.entries.count - capacity) }
        }
    }

    /// Entries after `since` (an id), of `endpoint` if given, oldest first.
    func entries(endpoint: FixtureEndpoint? = nil, since: Int64? = nil) -> [Entry] {
        state.withLock { state in
            state.entries.filter { (since == nil || $0.id > since!) && (endpoint == nil || $0.endpoint == endpoint) }
        }
    }

    /// Empties the journal; ids keep counting up, so a `since` from before still works.
    func clear() { state.withLock { $0.entries.removeAll() } }
}
