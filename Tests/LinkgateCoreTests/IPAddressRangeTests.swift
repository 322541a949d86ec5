import Testing
@testable import LinkgateCore

@Suite("IP addresses and CIDR ranges (INTERFACE §10 network restrictions)")
struct IPAddressRangeTests {
    // MARK: Addresses

    @Test("valid addresses print canonically (dotted quad; RFC 5952 for IPv6)", arguments: [
        ("0.0.0.0", "0.0.0.0"), ("127.0.0.1", "127.0.0.1"), ("255.255.255.255", "255.255.255.255"),
        ("10.0.10.100", "10.0.10.100"), ("192.0.2.1", "192.0.2.1"),
        ("::", "::"), ("::1", "::1"), ("1::", "1::"), ("::0", "::"), ("0:0:0:0:0:0:0:0", "::"),
        ("0:0:0:0:0:0:0:1", "::1"), ("2001:DB8::1", "2001:db8::1"), ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), // RFC 5952 §4.2.3: first of equal runs
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"), // §4.2.2: a single zero group is not compressed
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"), // §4.2.3: the longest run
        ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"), ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"), ("FFFF:ffff:FfFf:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("fe80::1:2", "fe80::1:2"), ("0001:002:03:4::", "1:2:3:4::"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"), ("::FFFF:c000:0201", "::ffff:192.0.2.1"), ("0:0:0:0:0:ffff:1.2.3.4", "::ffff:1.2.3.4"),
        ("::1.2.3.4", "::102:304"), ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"), ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
        ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ])
    func validAddress(text: String, canonical: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.description == canonical)
        // The canonical text reads back as the same address.
        #expect(IPAddress(canonical) == address)
        #expect(IPAddress(Substring(text)) == address)
    }

    @Test("invalid addresses", arguments: [
        "", " ", "1", "1.2.3", "1.2.3.4.5", "1.2.3.4.", ".1.2.3.4", "1..2.3", "256.0.0.1", "1.2.3.256", "01.2.3.4",
        "1.2.3.04", "1.2.3.00", "0x1.2.3.4", "1.2.3.-4", "+1.2.3.4", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4\n", "1.2.3.4/", "1.2.3.1000",
        "１.2.3.4", "1.2.3.4\0", "localhost",
        ":", ":::", "::::", ":1", "1:", ":1::", "1::2:", "1:::2", "1::2::3", "::1::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "1:2:3:4::5:6:7:8", "12345::", "00000::1", "g::1", "::g", "::1 ", "[::1]",
        "fe80::1%eth0", "fe80::1%1", "::ffff:1.2.3", "::ffff:1.2.3.4.5", "::ffff:01.2.3.4", "::ffff:256.2.3.4", "1.2.3.4::",
        "::1.2.3.4:1", "1:2:3:4:5:6:7:1.2.3.4", "1:2:3:4:5:6:7:8:1.2.3.4", "::ffff:1.2.3.4/", "1::2:1.2.3", ":1.2.3.4",
        "::a.b.c.d", "::1234.1.1.1", "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255:", "0000:0000:0000:0000:0000:0000:0000:00000",
        "2001:db8::1/64", "2001:db8::1\u{301}",
    ])
    func invalidAddress(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test("overlong text is refused before parsing")
    func overlong() {
        #expect(IPAddress(String(repeating: "0", count: 46)) == nil)
        #expect(IPAddress(String(repeating: "1", count: 10_000)) == nil)
        #expect(IPAddressRange(String(repeating: ":", count: 10_000)) == nil)
        // 45 characters is the longest valid text.
        #expect(IPAddress("0000:0000:0000:0000:0000:0000:255.255.255.255")?.description == "::ffff:ffff")
    }

    @Test("IPv4 and its IPv4-mapped IPv6 form: distinct values, same IPv4 value, same bytes")
    func mappedForm() throws {
        let v4 = try #require(IPAddress("192.0.2.1"))
        let mapped = try #require(IPAddress("::ffff:192.0.2.1"))
        #expect(v4 != mapped)
        #expect(v4.family == .ipv4 && mapped.family == .ipv6)
        #expect(v4.ipv4Value == 0xC000_0201 && mapped.ipv4Value == 0xC000_0201)
        #expect(v4.bytes == mapped.bytes)
        #expect(v4.bytes == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 192, 0, 2, 1])
        #expect(IPAddress("::1")?.ipv4Value == nil)
        #expect(IPAddress("::102:304")?.ipv4Value == nil) // IPv4-compatible is not mapped
    }

    @Test("addresses from bytes")
    func fromBytes() throws {
        #expect(IPAddress(bytes: [127, 0, 0, 1]) == IPAddress("127.0.0.1"))
        let v6Bytes: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [1]
        #expect(IPAddress(bytes: v6Bytes) == IPAddress("2001:db8::1"))
        #expect(try #require(IPAddress(bytes: v6Bytes)).bytes == v6Bytes)
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
        #expect(IPAddress(bytes: [UInt8](repeating: 0, count: 5)) == nil)
        #expect(IPAddress(ipv4: 0x7F00_0001).description == "127.0.0.1")
    }

    // MARK: Ranges

    @Test("valid ranges print canonically; host bits are cleared", arguments: [
        ("127.0.0.1", "127.0.0.1", 32), ("127.0.0.1/32", "127.0.0.1", 32), ("203.0.113.0/24", "203.0.113.0/24", 24),
        ("203.0.113.77/24", "203.0.113.0/24", 24), ("10.1.2.3/8", "10.0.0.0/8", 8), ("255.255.255.255/0", "0.0.0.0/0", 0),
        ("0.0.0.0/0", "0.0.0.0/0", 0), ("192.168.1.129/25", "192.168.1.128/25", 25), ("1.2.3.4/31", "1.2.3.4/31", 31),
        ("1.2.3.5/31", "1.2.3.4/31", 31), ("2001:db8::/32", "2001:db8::/32", 32), ("2001:DB8:1:2::5/32", "2001:db8::/32", 32),
        ("::1", "::1", 128), ("::1/128", "::1", 128), ("::/0", "::/0", 0), ("ffff::1/0", "::/0", 0),
        ("2001:db8::ffff/127", "2001:db8::fffe/127", 127), ("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff/64", "2001:db8:aaaa:bbbb::/64", 64),
        ("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff/63", "2001:db8:aaaa:bbba::/63", 63),
        ("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff/65", "2001:db8:aaaa:bbbb:8000::/65", 65),
        ("::ffff:1.2.3.4/96", "::ffff:0.0.0.0/96", 96), ("::ffff:1.2.3.4/120", "::ffff:1.2.3.0/120", 120),
        ("fe80::/10", "fe80::/10", 10), ("febf:ffff::/10", "fe80::/10", 10), ("8000::/1", "8000::/1", 1), ("ffff::/1", "8000::/1", 1),
    ])
    func validRange(text: String, canonical: String, prefixLength: Int) throws {
        let range = try #require(IPAddressRange(text))
        #expect(range.description == canonical)
        #expect(range.prefixLength == prefixLength)
        #expect(IPAddressRange(canonical) == range)
    }

    @Test("invalid ranges", arguments: [
        "", "/", "/24", "1.2.3.4/", "1.2.3.4/33", "1.2.3.4/-1", "1.2.3.4/+8", "1.2.3.4/08", "1.2.3.4/00", "1.2.3.4/ 8",
        "1.2.3.4/8 ", "1.2.3.4//8", "1.2.3.4/8/8", "1.2.3.4/1000", "1.2.3.4/0x8", "1.2.3/24", "::/129", "::/256", "::/0128",
        "::1/", "[::1]/128", "fe80::%eth0/64", "2001:db8::/3 2", "1.2.3.4 /8", "1.2.3.4/８", "1.2.3.0/24,1.2.4.0/24",
    ])
    func invalidRange(text: String) {
        #expect(IPAddressRange(text) == nil)
    }

    @Test("init(address:prefixLength:) checks the prefix for the family")
    func prefixBounds() throws {
        let v4 = try #require(IPAddress("1.2.3.4"))
        let v6 = try #require(IPAddress("::1"))
        #expect(IPAddressRange(address: v4, prefixLength: 33) == nil)
        #expect(IPAddressRange(address: v4, prefixLength: -1) == nil)
        #expect(IPAddressRange(address: v6, prefixLength: 129) == nil)
        #expect(IPAddressRange(address: v6, prefixLength: 128)?.description == "::1")
        #expect(IPAddressRange(address: v4, prefixLength: 16)?.network == IPAddress("1.2.0.0"))
    }

    @Test("containment", arguments: [
        // IPv4
        ("203.0.113.0/24", "203.0.113.0", true), ("203.0.113.0/24", "203.0.113.255", true), ("203.0.113.0/24", "203.0.114.0", false),
        ("203.0.113.0/24", "203.0.112.255", false), ("127.0.0.1", "127.0.0.1", true), ("127.0.0.1", "127.0.0.2", false),
        ("127.0.0.1/32", "127.0.0.1", true), ("0.0.0.0/0", "0.0.0.0", true), ("0.0.0.0/0", "255.255.255.255", true),
        ("128.0.0.0/1", "127.255.255.255", false), ("128.0.0.0/1", "128.0.0.0", true), ("10.0.0.0/8", "11.0.0.0", false),
        // an IPv4 range and IPv4-mapped IPv6 addresses
        ("203.0.113.0/24", "::ffff:203.0.113.9", true), ("203.0.113.0/24", "::ffff:cb00:7109", true),
        ("203.0.113.0/24", "::ffff:203.0.114.9", false), ("127.0.0.1", "::ffff:127.0.0.1", true),
        ("0.0.0.0/0", "::ffff:1.2.3.4", true), ("0.0.0.0/0", "::1", false), ("0.0.0.0/0", "2001:db8::1", false),
        ("0.0.0.0/0", "::1.2.3.4", false), ("0.0.0.0/0", "::ffff:0:0:1", false), ("203.0.113.0/24", "::cb00:7109", false),
        // IPv6 ranges
        ("2001:db8::/32", "2001:db8::1", true), ("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true),
        ("2001:db8::/32", "2001:db9::", false), ("2001:db8::/32", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", false),
        ("::1", "::1", true), ("::1/128", "::2", false), ("::1/128", "127.0.0.1", false), ("::/0", "2001:db8::1", true),
        ("::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true), ("::/0", "1.2.3.4", true),
        ("::ffff:0:0/96", "192.0.2.1", true), ("::ffff:0:0/96", "::ffff:192.0.2.1", true), ("::ffff:0:0/96", "::192.0.2.1", false),
        ("::ffff:192.0.2.0/120", "192.0.2.200", true), ("::ffff:192.0.2.0/120", "192.0.3.0", false),
        ("2001:db8:0:0:8000::/65", "2001:db8::8000:0:0:0", true), ("2001:db8:0:0:8000::/65", "2001:db8::7fff:0:0:0", false),
        ("2001:db8::/64", "2001:db8::ffff:ffff:ffff:ffff", true), ("2001:db8::/64", "2001:db8:0:1::", false),
        ("8000::/1", "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false), ("8000::/1", "8000::", true),
    ])
    func contains(range: String, address: String, expected: Bool) throws {
        let range = try #require(IPAddressRange(range))
        let address = try #require(IPAddress(address))
        #expect(range.contains(address) == expected)
    }

    @Test("every range contains its own network and (for IPv4) its mapped form")
    func containsOwnNetwork() throws {
        for text in ["10.0.0.0/8", "1.2.3.4", "0.0.0.0/0", "2001:db8::/32", "::/0", "::1", "fe80::/10"] {
            let range = try #require(IPAddressRange(text))
            #expect(range.contains(range.network))
            if let value = range.network.ipv4Value {
                #expect(range.contains(try #require(IPAddress("::ffff:" + IPAddress(ipv4: value).description))))
            }
        }
    }
}
