import Foundation
import LinkgateCore
import LinkgateCrypto
import Logging

/// Shares the password and client-secret throttles among the nodes on one database (INTERFACE
/// §11): every failed and passed check, every lockout and every admin's clear is published on
/// the cluster bus and applied by every other node, so guesses spread over nodes count as if
/// sent to one, and "clear" works wherever it is sent. (Failed checks are few: a throttled
/// attempt is refused before it is checked, so it is never published.) A node started later
/// learns only what happened after it started (lockouts last at most 15 minutes).
struct LockoutSync: Sendable {
    let bus: any ClusterBus
    /// The throttles by the `kind` GET /rest/api/latest/lockout shows.
    let throttles: [String: FailureThrottle]
    let now: @Sendable () -> Int64
    let logger: Logger
    /// Tells this node's own messages apart (every node receives every message).
    let node = SecureRandom.hex(8)

    private struct Message: Codable {
        var node: String
        var kind: String
        var op: String
        var user: String?
        var address: String?
        var failures: Int?
        var until: Int64?
    }

    func start() {
        for (kind, throttle) in throttles {
            throttle.observe { change in
                let message: Message = switch change {
                case .failed(let name, let address):
                    Message(node: node, kind: kind, op: "fail", user: name, address: address)
                case .succeeded(let name, let address):
                    Message(node: node, kind: kind, op: "pass", user: name, address: address)
                case .imposed(let lockout):
                    Message(node: node, kind: kind, op: "impose", user: lockout.user, address: lockout.address,
                            failures: lockout.failures, until: lockout.until)
                case .lifted(let user, let address):
                    Message(node: node, kind: kind, op: "lift", user: user, address: address)
                }
                guard let data = try? JSONEncoder().encode(message) else { return }
                let text = "lockout " + String(decoding: data, as: UTF8.self)
                Task {
                    do {
                        try await bus.publish(text)
                    } catch {
                        logger.warning("could not share a lockout with the other nodes; it holds on this node")
                    }
                }
            }
        }
        bus.subscribe { text in
            guard text.hasPrefix("lockout "),
                  let message = try? JSONDecoder().decode(Message.self, from: Data(text.dropFirst("lockout ".count).utf8)),
                  message.node != node, let throttle = throttles[message.kind] else { return }
            switch message.op {
            case "fail":
                guard let user = message.user, let address = message.address else { return }
                throttle.recordRemoteFailure(name: user, address: address, now: now())
            case "pass":
                guard let user = message.user, let address = message.address else { return }
                throttle.recordRemoteSuccess(name: user, address: address)
            case "impose":
                guard let until = message.until else { return }
                throttle.impose(Lockout(user: message.user, address: message.address, failures: message.failures ?? 0, until: until),
                                now: now())
            case "lift":
                throttle.lift(user: message.user, address: message.address, now: now())
            default:
                return
            }
        }
    }
}
