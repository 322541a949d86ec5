// Form bodies (WHATWG `application/x-www-form-urlencoded`, LinkgateCore/FormURLEncoded).
// Invariants: a parsed body re-encodes to one that parses to the same pairs; for any text,
// decode(encode(x)) == x in both `+` modes, and encode emits only unreserved bytes and %XX.
import FuzzSupport
import LinkgateCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFormBody(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))

    if let pairs = try? FormURLEncoded.parse(bytes: bytes) {
        let reencoded = pairs.map { FormURLEncoded.encode($0.name) + "=" + FormURLEncoded.encode($0.value) }.joined(separator: "&")
        guard let again = try? FormURLEncoded.parse(reencoded) else { fatalError("re-encoded body does not parse: \(reencoded)") }
        require(again.map(\.name) == pairs.map(\.name) && again.map(\.value) == pairs.map(\.value),
                     "form round trip changed the pairs")
        // The String entry point agrees with the bytes one (the body is valid UTF-8 here).
        if let text = String(validating: bytes, as: UTF8.self), let viaText = try? FormURLEncoded.parse(text) {
            require(viaText.map(\.name) == pairs.map(\.name) && viaText.map(\.value) == pairs.map(\.value))
        }
    }

    let text = String(decoding: bytes, as: UTF8.self)
    let encoded = FormURLEncoded.encode(text)
    require(encoded.utf8.allSatisfy { byte in
        byte == UInt8(ascii: "%") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
            || byte == UInt8(ascii: "~") || (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
    }, "encode emitted a reserved byte")
    require((try? FormURLEncoded.decode(encoded)) == text, "decode(encode(x)) != x (plus is space)")
    require((try? FormURLEncoded.decode(encoded, plusIsSpace: false)) == text, "decode(encode(x)) != x (plus kept)")
    // Decoding arbitrary text never traps; when it succeeds the result is valid text that
    // re-encodes to something decoding back to it.
    if let decoded = try? FormURLEncoded.decode(text, plusIsSpace: false) {
        require((try? FormURLEncoded.decode(FormURLEncoded.encode(decoded), plusIsSpace: false)) == decoded)
    }
    return 0
}
