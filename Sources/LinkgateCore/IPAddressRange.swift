/// An IPv4 or IPv6 address (INTERFACE §10, network restrictions per link).
///
/// The value is kept as 128 bits; an IPv4 address is kept as its IPv4-mapped IPv6 form
/// `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2) together with the family it was written in, so
/// `1.2.3.4` and `::ffff:1.2.3.4` are different values (each prints as written) but match
/// the same ranges (see `IPAddressRange.contains`). A dual-stack socket reports IPv4 peers
/// in the mapped form, so a range written in IPv4 must match both.
///
/// Parsing is strict and pure Swift (no `inet_pton`): dotted IPv4 has exactly four decimal
/// parts 0-255 without leading zeros; IPv6 follows RFC 4291 §2.2 (1-4 hex digits per group,
/// at most one `::`, an embedded dotted IPv4 in the last 32 bits). Zone ids (`%eth0`),
/// brackets, spaces and anything else are refused.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    public enum Family: Sendable, Hashable { case ipv4, ipv6 }

    /// The high and low 64 bits of the 128-bit (IPv4-mapped for IPv4) value.
    public let high: UInt64
    public let low: UInt64
    public let family: Family

    /// The longest text either form can have: `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`.
    static let maximumTextLength = 45
    static let ipv4MappedHigh: UInt64 = 0
    static let ipv4MappedLowPrefix: UInt64 = 0x0000_FFFF_0000_0000

    init(high: UInt64, low: UInt64, family: Family) {
        self.high = high
        self.low = low
        self.family = family
    }

    /// An IPv4 address from its 32-bit value.
    public init(ipv4 value: UInt32) {
        self.init(high: Self.ipv4MappedHigh, low: Self.ipv4MappedLowPrefix | UInt64(value), family: .ipv4)
    }

    /// An address from its network-order bytes: 4 (IPv4) or 16 (IPv6).
    public init?(bytes: some Collection<UInt8>) {
        switch bytes.count {
        case 4:
            self.init(ipv4: bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        case 16:
            let high = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let low = bytes.dropFirst(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            self.init(high: high, low: low, family: .ipv6)
        default:
            return nil
        }
    }

    /// Parses dotted IPv4 or RFC 4291 §2.2 IPv6 text; nil for anything else.
    public init?(_ text: some StringProtocol) {
        guard let bytes = Self.utf8Prefix(text, maximum: Self.maximumTextLength),
              let address = Self.parse(bytes[...]) else { return nil }
        self = address
    }

    static func parse(_ bytes: ArraySlice<UInt8>) -> IPAddress? {
        if let value = parseIPv4(bytes) { return IPAddress(ipv4: value) }
        if let (high, low) = parseIPv6(bytes) { return IPAddress(high: high, low: low, family: .ipv6) }
        return nil
    }

    /// The UTF-8 bytes of `text`, or nil when it has more than `maximum` of them.
    static func utf8Prefix(_ text: some StringProtocol, maximum: Int) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(maximum)
        for byte in text.utf8 {
            guard bytes.count < maximum else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    /// The 16 network-order bytes of the IPv6 (for IPv4: IPv4-mapped) value.
    public var bytes: [UInt8] {
        (0..<16).map { index in
            let word = index < 8 ? high : low
            return UInt8(truncatingIfNeeded: word >> (56 - 8 * UInt64(index % 8)))
        }
    }

    /// The IPv4 value of an IPv4 address or of an IPv4-mapped IPv6 address, else nil.
    public var ipv4Value: UInt32? {
        guard high == Self.ipv4MappedHigh, low >> 32 == Self.ipv4MappedLowPrefix >> 32 else { return nil }
        return UInt32(truncatingIfNeeded: low)
    }

    /// Dotted quad for IPv4; RFC 5952 canonical text for IPv6 (lower case, no leading zeros,
    /// the longest run of two or more zero groups — the first on a tie — as `::`, and
    /// IPv4-mapped addresses in mixed notation `::ffff:a.b.c.d`, RFC 5952 §5).
    public var description: String {
        switch family {
        case .ipv4:
            return Self.dottedQuad(UInt32(truncatingIfNeeded: low))
        case .ipv6:
            if let value = ipv4Value { return "::ffff:" + Self.dottedQuad(value) }
            return Self.ipv6Text(high: high, low: low)
        }
    }

    // MARK: Parsing

    /// Exactly four decimal parts 0-255, no leading zeros ("0" itself is fine), nothing else.
    static func parseIPv4(_ bytes: ArraySlice<UInt8>) -> UInt32? {
        var value: UInt32 = 0
        var parts = 0
        var index = bytes.startIndex
        while true {
            let start = index
            var part: UInt32 = 0
            while index < bytes.endIndex, index - start < 3, let digit = decimalDigit(bytes[index]) {
                part = part * 10 + digit
                index += 1
            }
            let length = index - start
            guard length > 0, part <= 255, length == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
            value = value << 8 | part
            parts += 1
            if parts == 4 { return index == bytes.endIndex ? value : nil }
            guard index < bytes.endIndex, bytes[index] == UInt8(ascii: ".") else { return nil }
            index += 1
        }
    }

    /// RFC 4291 §2.2: eight groups of 1-4 hex digits; one `::` stands for one or more zero
    /// groups; the last two groups may be written as a dotted IPv4 address.
    static func parseIPv6(_ bytes: ArraySlice<UInt8>) -> (UInt64, UInt64)? {
        let colon = UInt8(ascii: ":")
        var head: [UInt16] = []  // groups before `::` (all groups when there is none)
        var tail: [UInt16] = []  // groups after `::`
        var compressed = false
        var index = bytes.startIndex
        let end = bytes.endIndex
        guard index < end else { return nil }
        if bytes[index] == colon {
            // Only `::` may open an address; a single leading colon is an error.
            guard index + 1 < end, bytes[index + 1] == colon else { return nil }
            compressed = true
            index += 2
        }
        while index < end {
            let start = index
            var group: UInt16 = 0
            while index < end, let digit = hexDigit(bytes[index]) {
                guard index - start < 4 else { return nil }
                group = group << 4 | digit
                index += 1
            }
            if index < end, bytes[index] == UInt8(ascii: ".") {
                // Embedded IPv4: the rest of the text, as the last two groups.
                guard let value = parseIPv4(bytes[start..<end]) else { return nil }
                if compressed {
                    tail += [UInt16(value >> 16), UInt16(truncatingIfNeeded: value)]
                } else {
                    head += [UInt16(value >> 16), UInt16(truncatingIfNeeded: value)]
                }
                index = end
                break
            }
            guard index > start else { return nil }
            if compressed { tail.append(group) } else { head.append(group) }
            if index == end { break }
            guard bytes[index] == colon else { return nil }
            index += 1
            if index < end, bytes[index] == colon {
                guard !compressed else { return nil }  // at most one `::`
                compressed = true
                index += 1
            } else if index == end {
                return nil  // a single trailing colon
            }
            guard head.count + tail.count < 8 else { return nil }
        }
        if compressed {
            guard head.count + tail.count <= 7 else { return nil }
        } else {
            guard head.count == 8 else { return nil }
        }
        let groups = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        let high = groups[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        let low = groups[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        return (high, low)
    }

    static func decimalDigit(_ byte: UInt8) -> UInt32? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) ? UInt32(byte - UInt8(ascii: "0")) : nil
    }

    static func hexDigit(_ byte: UInt8) -> UInt16? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt16(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt16(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt16(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    // MARK: Formatting

    static func dottedQuad(_ value: UInt32) -> String {
        "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
    }

    static func ipv6Text(high: UInt64, low: UInt64) -> String {
        let groups = (0..<8).map { index in
            UInt16(truncatingIfNeeded: (index < 4 ? high : low) >> (48 - 16 * UInt64(index % 4)))
        }
        // RFC 5952 §4.2: the longest run (first on a tie) of at least two zero groups.
        var bestStart = -1
        var bestLength = 1
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else { index += 1; continue }
            let start = index
            while index < 8, groups[index] == 0 { index += 1 }
            if index - start > bestLength {
                bestStart = start
                bestLength = index - start
            }
        }
        func hex(_ range: Range<Int>) -> String {
            groups[range].map { String($0, radix: 16) }.joined(separator: ":")
        }
        guard bestStart >= 0 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }
}

/// An address range in CIDR notation, or a single address (INTERFACE §10 `allowedAddresses`).
///
/// Accepts `a.b.c.d`, `a.b.c.d/n` (n 0-32), IPv6 and IPv6`/n` (n 0-128); n is decimal without
/// leading zeros. A range whose address has bits set beyond the prefix (`10.1.2.3/8`) is
/// accepted and normalised to its network (`10.0.0.0/8`) — what every router does with it —
/// rather than refused. `description` is canonical: the network address (RFC 5952 for IPv6)
/// and `/n`, with `/n` left out for a single address (`/32`, `/128`), so `127.0.0.1`
/// reads back as written.
public struct IPAddressRange: Sendable, Hashable, CustomStringConvertible {
    /// The network address (host bits zero).
    public let network: IPAddress
    /// The prefix length in the address's own family: 0-32 for IPv4, 0-128 for IPv6.
    public let prefixLength: Int

    /// The range of `prefixLength` leading bits of `address`; host bits are cleared.
    /// nil when the prefix is out of range for the family.
    public init?(address: IPAddress, prefixLength: Int) {
        let maximum = address.family == .ipv4 ? 32 : 128
        guard (0...maximum).contains(prefixLength) else { return nil }
        self.prefixLength = prefixLength
        let (highMask, lowMask) = Self.mask(prefixLength128: Self.prefixLength128(prefixLength, address.family))
        network = IPAddress(high: address.high & highMask, low: address.low & lowMask, family: address.family)
    }

    public init?(_ text: some StringProtocol) {
        // An address, `/` and at most three digits.
        guard let bytes = IPAddress.utf8Prefix(text, maximum: IPAddress.maximumTextLength + 4) else { return nil }
        let slash = bytes.firstIndex(of: UInt8(ascii: "/"))
        guard let address = IPAddress.parse(bytes[..<(slash ?? bytes.endIndex)]) else { return nil }
        guard let slash else {
            self.init(address: address, prefixLength: address.family == .ipv4 ? 32 : 128)
            return
        }
        let digits = bytes[(slash + 1)...]
        // 1-3 decimal digits, no sign, no leading zeros.
        guard (1...3).contains(digits.count), digits.first != UInt8(ascii: "0") || digits.count == 1 else { return nil }
        var length = 0
        for byte in digits {
            guard let digit = IPAddress.decimalDigit(byte) else { return nil }
            length = length * 10 + Int(digit)
        }
        self.init(address: address, prefixLength: length)
    }

    /// Whether `address` lies in the range. IPv4 addresses and ranges are compared in the
    /// IPv4-mapped IPv6 space (RFC 4291 §2.5.5.2), so an IPv4 range contains the mapped form
    /// `::ffff:a.b.c.d` of its addresses, and `::ffff:0:0/96` (or `::/0`) contains every IPv4
    /// address.
    public func contains(_ address: IPAddress) -> Bool {
        let (highMask, lowMask) = Self.mask(prefixLength128: Self.prefixLength128(prefixLength, network.family))
        return address.high & highMask == network.high && address.low & lowMask == network.low
    }

    public var description: String {
        let full = network.family == .ipv4 ? 32 : 128
        return prefixLength == full ? network.description : "\(network)/\(prefixLength)"
    }

    static func prefixLength128(_ length: Int, _ family: IPAddress.Family) -> Int {
        family == .ipv4 ? 96 + length : length
    }

    /// The high and low 64-bit masks for a prefix of `prefixLength128` (0-128) leading bits.
    static func mask(prefixLength128 length: Int) -> (UInt64, UInt64) {
        func leadingOnes(_ count: Int) -> UInt64 {
            count <= 0 ? 0 : count >= 64 ? .max : ~(UInt64.max >> UInt64(count))
        }
        return (leadingOnes(length), leadingOnes(length - 64))
    }
}
