// Address and CIDR parsing (LinkgateCore/IPAddressRange, INTERFACE §10).
// Invariants: glibc's inet_pton (the oracle, used here only) accepts exactly the same
// addresses with the same bytes; description is canonical and parses back to the same value;
// a range contains its network, and `contains` agrees with a byte-wise prefix comparison.
import FuzzSupport
import Glibc
import LinkgateCore

func oracle(_ text: String) -> (IPAddress.Family, [UInt8])? {
    var v4 = in_addr()
    if inet_pton(AF_INET, text, &v4) == 1 {
        return (.ipv4, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] + withUnsafeBytes(of: &v4) { Array($0) })
    }
    var v6 = in6_addr()
    if inet_pton(AF_INET6, text, &v6) == 1 {
        return (.ipv6, withUnsafeBytes(of: &v6) { Array($0) })
    }
    return nil
}

func prefixMatches(_ a: [UInt8], _ b: [UInt8], bits: Int) -> Bool {
    for bit in 0..<bits where (a[bit / 8] ^ b[bit / 8]) & (0x80 >> UInt8(bit % 8)) != 0 { return false }
    return true
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCIDR(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // Two texts: a range, and after the first newline an address to test against it.
    let newline = bytes.firstIndex(of: 0x0A) ?? bytes.endIndex
    let rangeText = String(decoding: bytes[..<newline], as: UTF8.self)
    let addressText = newline < bytes.endIndex ? String(decoding: bytes[(newline + 1)...], as: UTF8.self) : rangeText

    for text in [rangeText, addressText] {
        let address = IPAddress(text)
        if !text.utf8.contains(0) {
            let expected = oracle(text)
            require(address?.family == expected?.0 && address?.bytes == expected?.1,
                         "IPAddress('\(text)') = \(String(describing: address)), inet_pton says \(String(describing: expected))")
        }
        if let address {
            let canonical = address.description
            require(IPAddress(canonical) == address, "'\(canonical)' does not read back")
            require(IPAddress(canonical)?.description == canonical, "'\(canonical)' is not canonical")
            require(IPAddress(bytes: address.bytes)?.bytes == address.bytes)
        }
    }

    guard let range = IPAddressRange(rangeText) else {
        // Without a slash a range is exactly an address.
        require(rangeText.contains("/") || IPAddress(rangeText) == nil, "'\(rangeText)' is an address but not a range")
        return 0
    }
    let canonical = range.description
    require(IPAddressRange(canonical) == range, "range '\(canonical)' does not read back")
    require(IPAddressRange(canonical)?.description == canonical, "range '\(canonical)' is not canonical")
    require(range.contains(range.network), "\(range) does not contain its network")
    let maximum = range.network.family == .ipv4 ? 32 : 128
    require((0...maximum).contains(range.prefixLength))
    let rangeBits = range.network.family == .ipv4 ? 96 + range.prefixLength : range.prefixLength
    require(prefixMatches(range.network.bytes, range.network.bytes, bits: 128))
    // Host bits of the network are zero.
    let hostBitsClear = (rangeBits..<128).allSatisfy { bit in range.network.bytes[bit / 8] & (0x80 >> UInt8(bit % 8)) == 0 }
    require(hostBitsClear, "\(range) has host bits set")
    if let address = IPAddress(addressText) {
        let expected = prefixMatches(range.network.bytes, address.bytes, bits: rangeBits)
        require(range.contains(address) == expected, "\(range).contains(\(address)) disagrees with the byte comparison")
    }
    return 0
}
