/// An error from the crypto layer. `code` is comparable, so tests can assert on it.
public struct CryptoError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case randomUnavailable
        case malformedKey
        case notRSA
        case keyTooSmall
        case privateKeyOffered
        case scryptFailed
        case keyGenerationFailed
        case signingFailed
        case sha1Forbidden
    }

    public let code: Code
    public let message: String

    public var description: String { message }

    static func malformedKey(_ why: String = "not a valid public key") -> CryptoError {
        .init(code: .malformedKey, message: why)
    }
    static var notRSA: CryptoError { .init(code: .notRSA, message: "the key is not an RSA key") }
    static func keyTooSmall(bits: Int, minimum: Int) -> CryptoError {
        .init(code: .keyTooSmall, message: "the RSA key has \(bits) bits; at least \(minimum) are required")
    }
    static var privateKeyOffered: CryptoError {
        .init(code: .privateKeyOffered, message: "a private key was given where a public key is expected")
    }
}
