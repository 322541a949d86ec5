// The RFC 5849 §3.4.1 signature base string (OAuth1/SignatureBaseString) and the base-string
// URI normalisation (§3.4.1.2, SignedRequest.normalize).
// Input: line 1 the HTTP method, line 2 the request URL, further lines `name=value` pairs.
// Invariants: exactly three `&`-separated parts; part 1 is the upper-cased method, parts 2
// and 3 percent-decode to the base-string URI and the normalised parameters; those decode
// to the same multiset of pairs, sorted by name then value (byte order); normalising the
// base-string URI again changes nothing (for a well-formed authority); the result does not depend on the pairs' order.
import FuzzSupport
import LinkgateCore
import OAuth1

/// RFC 9110 §5.6.2 token characters: what an HTTP method can be.
func isToken(_ byte: UInt8) -> Bool {
    (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || "!#$%&'*+-.^_`|~".utf8.contains(byte)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSignatureBaseString(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let lines = UnsafeBufferPointer(start: data, count: size).split(separator: 0x0A, omittingEmptySubsequences: false)
        .map { String(decoding: $0, as: UTF8.self) }
    guard lines.count >= 2 else { return 0 }
    let method = lines[0]
    // Hummingbird only hands over token methods; `&` is a token character but never a method.
    guard !method.isEmpty, method.utf8.allSatisfy({ isToken($0) && $0 != UInt8(ascii: "&") }) else { return 0 }
    let uri = SignedRequest.normalize(lines[1])
    let pairs = lines.dropFirst(2).map { line -> ProtocolParameters.Pair in
        let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        return ProtocolParameters.Pair(name: String(parts[0]), value: parts.count == 2 ? String(parts[1]) : "")
    }

    let base = SignatureBaseString.make(method: method, baseStringURI: uri, parameters: pairs)
    let parts = base.split(separator: "&", omittingEmptySubsequences: false)
    require(parts.count == 3, "base string has \(parts.count) parts: \(base)")
    require(parts[0] == method.uppercased())
    require(PercentEncoding.decode(parts[1]) == uri, "URI part does not decode back")
    guard let normalized = PercentEncoding.decode(parts[2]) else { fatalError("parameter part does not decode") }
    require(normalized == SignatureBaseString.normalize(pairs))

    let decodedPairs: [(String, String)] = normalized.isEmpty ? [] : normalized.split(separator: "&", omittingEmptySubsequences: false).map {
        let nameValue = $0.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        require(nameValue.count == 2, "a normalised pair without '='")
        guard let name = PercentEncoding.decode(nameValue[0]), let value = PercentEncoding.decode(nameValue[1]) else {
            fatalError("a normalised pair does not decode")
        }
        return (name, value)
    }
    require(decodedPairs.count == pairs.count)
    let sortedInput = pairs.map { ($0.name, $0.value) }.sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
    require(decodedPairs.sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }.elementsEqual(sortedInput, by: ==),
                 "normalised parameters are not the input pairs")
    // Sorted by encoded name, then encoded value, in byte order (§3.4.1.3.2).
    let normalizedPairs = normalized.isEmpty ? [] : normalized.split(separator: "&", omittingEmptySubsequences: false)
        .map { $0.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false) }
    for (earlier, later) in zip(normalizedPairs, normalizedPairs.dropFirst()) {
        let inOrder = earlier[0].utf8.lexicographicallyPrecedes(later[0].utf8)
            || (earlier[0].utf8.elementsEqual(later[0].utf8) && !later[1].utf8.lexicographicallyPrecedes(earlier[1].utf8))
        require(inOrder, "parameters out of order: \(earlier) before \(later)")
    }
    require(SignatureBaseString.make(method: method, baseStringURI: uri, parameters: pairs.reversed()) == base,
                 "base string depends on the parameters' order")
    // Normalising twice changes nothing, for URLs whose authority has at most one port
    // (`host:80:80` is no URL the server builds: its base URL is configured, the path starts with `/`).
    let url = lines[1]
    let authority = url.range(of: "://").map { url[$0.upperBound...].prefix { !"/?#".contains($0) } } ?? ""
    let afterHost = authority.hasPrefix("[") ? authority.drop { $0 != "]" } : authority
    if afterHost.filter({ $0 == ":" }).count <= 1 {
        require(SignedRequest.normalize(uri) == uri, "normalize is not idempotent: \(lines[1]) -> \(uri) -> \(SignedRequest.normalize(uri))")
    }
    return 0
}
