import HTTPTypes
import Hummingbird
import LinkgateCore

/// The client address of a request (INTERFACE §10): the socket's peer, or, when the peer is a
/// trusted proxy (`--trusted-proxy`), the right-most `X-Forwarded-For` address that is not a
/// trusted proxy itself. Throttling and per-link network restrictions both use it.
struct ClientAddressResolver: Sendable {
    let trustedProxies: [IPAddressRange]

    func address(_ request: Request, _ context: LinkgateContext) -> IPAddress? {
        resolve(request, context)
    }

    /// An IPv4-mapped IPv6 address (a dual-stack socket's view of an IPv4 peer) as plain IPv4,
    /// so `127.0.0.1` means the same client however the socket saw it.
    static func unmapped(_ address: IPAddress) -> IPAddress {
        guard address.family == .ipv6, let v4 = address.ipv4Value else { return address }
        return IPAddress(ipv4: v4)
    }

    private func resolve(_ request: Request, _ context: LinkgateContext) -> IPAddress? {
        guard let peer = context.peerAddress.map(Self.unmapped) else { return nil }
        guard isTrusted(peer) else { return peer }
        // Each proxy appends the address it received from; walk back from the nearest hop.
        var nearest = peer
        for header in request.headers[values: .xForwardedFor].reversed() {
            for item in header.split(separator: ",").reversed() {
                // A malformed hop ends the walk at the last address a trusted proxy vouched for.
                guard let hop = IPAddress(item.trimmingCharacters(in: " ")).map(Self.unmapped) else { return nearest }
                if !isTrusted(hop) { return hop }
                nearest = hop
            }
        }
        return nearest
    }

    /// The text throttling counts by (`FailureThrottle.addressKey`).
    func key(_ request: Request, _ context: LinkgateContext) -> String {
        FailureThrottle.addressKey(address(request, context))
    }

    private func isTrusted(_ address: IPAddress) -> Bool {
        trustedProxies.contains { $0.contains(address) }
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}
