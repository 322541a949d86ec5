/// The signature base string (RFC 5849 §3.4.1).
public enum SignatureBaseString {
    /// `METHOD&encode(base-string URI)&encode(normalized parameters)`.
    public static func make(method: String, baseStringURI: String, parameters: [ProtocolParameters.Pair]) -> String {
        method.uppercased() + "&" + PercentEncoding.encode(baseStringURI) + "&" + PercentEncoding.encode(normalize(parameters))
    }

    /// RFC 5849 §3.4.1.3.2: encode names and values, sort by name then value (byte order),
    /// join with `=` and `&`.
    public static func normalize(_ parameters: [ProtocolParameters.Pair]) -> String {
        parameters.map { (PercentEncoding.encode($0.name), PercentEncoding.encode($0.value)) }
            .sorted { $0.0 == $1.0 ? $0.1.utf8.lexicographicallyPrecedes($1.1.utf8) : $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }
}
