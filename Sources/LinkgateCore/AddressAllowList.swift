/// A link's network restriction (INTERFACE §10, Atlassian's network allow-lists): CIDR ranges
/// or single IPv4/IPv6 addresses. Empty means any address.
public struct AddressAllowList: Sendable, Equatable {
    public var ranges: [IPAddressRange]

    /// At most this many entries per link.
    public static let maximumEntries = 100
    /// No restriction.
    public static let any = AddressAllowList(ranges: [])

    public init(ranges: [IPAddressRange]) {
        self.ranges = ranges
    }

    /// Parses REST or console input: nil or `[]` is any address; a bad entry is a
    /// `ValidationError` on `allowedAddresses` that names it.
    public static func parse(_ items: [String]?) throws -> AddressAllowList {
        guard let items else { return .any }
        guard items.count <= maximumEntries else {
            throw ValidationError("allowedAddresses", "may hold at most \(maximumEntries) entries")
        }
        var ranges: [IPAddressRange] = []
        for item in items {
            guard let range = IPAddressRange(item.trimmingSpaces()) else {
                throw ValidationError("allowedAddresses", "'\(item.prefix(64))' is not an IPv4 or IPv6 address or CIDR range")
            }
            if !ranges.contains(range) { ranges.append(range) }
        }
        return AddressAllowList(ranges: ranges)
    }

    /// Parses the stored form (canonical ranges separated by spaces); entries that no longer
    /// parse are dropped, and a list left empty by that refuses every address rather than allowing all.
    public init(stored: String?) {
        guard let stored, !stored.isEmpty else {
            self = .any
            return
        }
        let parsed = stored.split(separator: " ").compactMap { IPAddressRange($0) }
        self.ranges = parsed.isEmpty ? [IPAddressRange(address: IPAddress(ipv4: 0), prefixLength: 32)!] : parsed
    }

    /// The stored form; nil when unrestricted.
    public var stored: String? { ranges.isEmpty ? nil : ranges.map(\.description).joined(separator: " ") }

    /// The entity form: nil (JSON null) when unrestricted.
    public var strings: [String]? { ranges.isEmpty ? nil : ranges.map(\.description) }

    public var isRestricted: Bool { !ranges.isEmpty }

    /// Whether a request from `address` may use the link; an unknown address passes only an unrestricted list.
    public func allows(_ address: IPAddress?) -> Bool {
        if ranges.isEmpty { return true }
        guard let address else { return false }
        return ranges.contains { $0.contains(address) }
    }
}
