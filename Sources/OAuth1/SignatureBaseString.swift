import LinkgateCore

/// The signature base string (RFC 5849 §3.4.1).
public enum SignatureBaseString {
    /// `METHOD&encode(base-string URI)&encode(normalized parameters)`.
    public static func make(method: String, baseStringURI: String, parameters: [ProtocolParameters.Pair]) -> String {
        String(decoding: bytes(method: method, baseStringURI: baseStringURI, parameters: parameters), as: UTF8.self)
    }

    /// `make`'s UTF-8 bytes, built in one buffer: what a signature is verified over on every
    /// signed request. Percent-encoding works byte by byte, so the encoded normalized parameters
    /// are each pair's encoded name and value encoded again, joined by `%3D` and `%26`.
    public static func bytes(method: String, baseStringURI: String, parameters: [ProtocolParameters.Pair]) -> [UInt8] {
        let pairs = sortedEncodedPairs(parameters)
        var out: [UInt8] = []
        out.reserveCapacity(method.utf8.count + 3 * baseStringURI.utf8.count + pairs.reduce(16) { $0 + 3 * ($1.name.count + $1.value.count + 6) })
        out += method.uppercased().utf8
        out.append(UInt8(ascii: "&"))
        FormURLEncoded.appendEncoded(baseStringURI, to: &out)
        out.append(UInt8(ascii: "&"))
        for (position, pair) in pairs.enumerated() {
            if position > 0 { out += "%26".utf8 }
            FormURLEncoded.appendEncoded(pair.name, to: &out)
            out += "%3D".utf8
            FormURLEncoded.appendEncoded(pair.value, to: &out)
        }
        return out
    }

    /// RFC 5849 §3.4.1.3.2: encode names and values, sort by name then value (byte order),
    /// join with `=` and `&`.
    public static func normalize(_ parameters: [ProtocolParameters.Pair]) -> String {
        let joined = sortedEncodedPairs(parameters).map { $0.name + [UInt8(ascii: "=")] + $0.value }.joined(separator: [UInt8(ascii: "&")])
        return String(decoding: Array(joined), as: UTF8.self)
    }

    /// Each pair's name and value percent-encoded, sorted by name, then value, byte by byte.
    private static func sortedEncodedPairs(_ parameters: [ProtocolParameters.Pair]) -> [(name: [UInt8], value: [UInt8])] {
        parameters.map { (name: encodedBytes($0.name), value: encodedBytes($0.value)) }
            .sorted { $0.name == $1.name ? $0.value.lexicographicallyPrecedes($1.value) : $0.name.lexicographicallyPrecedes($1.name) }
    }

    private static func encodedBytes(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        FormURLEncoded.appendEncoded(text, to: &out)
        return out
    }
}
