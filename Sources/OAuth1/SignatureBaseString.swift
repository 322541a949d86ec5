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
        let encoded = parameters.map { (name: encodedBytes($0.name), value: encodedBytes($0.value)) }
        let order = encoded.indices.sorted { a, b in
            encoded[a].name == encoded[b].name
                ? encoded[a].value.lexicographicallyPrecedes(encoded[b].value)
                : encoded[a].name.lexicographicallyPrecedes(encoded[b].name)
        }
        var out: [UInt8] = []
        out.reserveCapacity(method.utf8.count + 3 * baseStringURI.utf8.count + encoded.reduce(16) { $0 + 3 * ($1.name.count + $1.value.count + 6) })
        if method.utf8.allSatisfy({ $0 < 0x80 }) {
            for byte in method.utf8 { out.append(byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") ? byte - 0x20 : byte) }
        } else {
            out += method.uppercased().utf8
        }
        out.append(UInt8(ascii: "&"))
        FormURLEncoded.appendEncoded(baseStringURI, to: &out)
        out.append(UInt8(ascii: "&"))
        for (position, index) in order.enumerated() {
            if position > 0 { out += "%26".utf8 }
            FormURLEncoded.appendEncoded(encoded[index].name, to: &out)
            out += "%3D".utf8
            FormURLEncoded.appendEncoded(encoded[index].value, to: &out)
        }
        return out
    }

    /// RFC 5849 §3.4.1.3.2: encode names and values, sort by name then value (byte order),
    /// join with `=` and `&`.
    public static func normalize(_ parameters: [ProtocolParameters.Pair]) -> String {
        parameters.map { (PercentEncoding.encode($0.name), PercentEncoding.encode($0.value)) }
            .sorted { $0.0 == $1.0 ? $0.1.utf8.lexicographicallyPrecedes($1.1.utf8) : $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    private static func encodedBytes(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        FormURLEncoded.appendEncoded(text, to: &out)
        return out
    }
}
