// The OAuth 1.0a `Authorization: OAuth …` header (RFC 5849 §3.5.1, OAuth1/ProtocolParameters).
// Invariants: a parsed header re-serialized as `OAuth name="value", …` (RFC 5849 §3.5.1
// encoding) parses to the same pairs; `collect` either throws an OAuth problem or returns
// parameters with every required one present, a non-negative timestamp, a bounded nonce and
// no oauth_signature among the signed parameters.
import FuzzSupport
import LinkgateCore
@testable import OAuth1

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAuthorizationHeader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let header = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)

    if let pairs = try? ProtocolParameters.parseAuthorizationHeader(header) {
        require(!pairs.contains { $0.name == "realm" || $0.name.isEmpty }, "realm or an empty name came through")
        let serialized = "OAuth realm=\"x\", " + pairs.map { "\(PercentEncoding.encode($0.name))=\"\(PercentEncoding.encode($0.value))\"" }
            .joined(separator: ", ")
        guard let again = try? ProtocolParameters.parseAuthorizationHeader(serialized) else {
            fatalError("re-serialized header does not parse: \(serialized)")
        }
        require(again.map(\.name) == pairs.map(\.name) && again.map(\.value) == pairs.map(\.value),
                     "header round trip changed the pairs")
    }

    let request = SignedRequest(method: "POST", baseStringURI: "https://linkgate.example/plugins/servlet/oauth/request-token",
                                authorization: header, query: [("oauth_version", "1.0")])
    if let parameters = try? ProtocolParameters.collect(request) {
        for name in ProtocolParameters.required {
            require(parameters.signedParameters.contains { $0.name == name } || name == "oauth_signature")
        }
        require(!parameters.consumerKey.isEmpty && !parameters.signature.isEmpty && !parameters.nonce.isEmpty)
        // The method is judged against the consumer's list later (RequestVerifier), not here.
        require(parameters.timestamp >= 0 && parameters.nonce.utf8.count <= 256)
        require(!parameters.signedParameters.contains { $0.name == "oauth_signature" })
        require(parameters.token.map { !$0.isEmpty } ?? true)
        // The base string of what was collected is well formed (three `&`-separated parts).
        let base = SignatureBaseString.make(method: request.method, baseStringURI: request.baseStringURI,
                                            parameters: parameters.signedParameters)
        require(base.split(separator: "&", omittingEmptySubsequences: false).count == 3)
    }
    return 0
}
