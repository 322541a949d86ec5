/// An OAuth 1.0 problem (OAuth Problem Reporting extension, as Atlassian reports it;
/// INTERFACE §7). `problem` is comparable so tests can assert on it.
public struct OAuth1Problem: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        // 400
        case versionRejected = "version_rejected"
        case parameterAbsent = "parameter_absent"
        case parameterRejected = "parameter_rejected"
        case timestampRefused = "timestamp_refused"
        case signatureMethodRejected = "signature_method_rejected"
        // 401
        case nonceUsed = "nonce_used"
        case tokenExpired = "token_expired"
        case tokenRejected = "token_rejected"
        case signatureInvalid = "signature_invalid"
        case consumerKeyUnknown = "consumer_key_unknown"
        case permissionUnknown = "permission_unknown"
        case permissionDenied = "permission_denied"
    }

    public let problem: Kind
    /// What went wrong, for people; never includes secrets.
    public let advice: String
    /// Extra problem parameters: `oauth_parameters_absent`, `oauth_acceptable_timestamps`, ….
    public let parameters: [(name: String, value: String)]

    public init(_ problem: Kind, _ advice: String, parameters: [(name: String, value: String)] = []) {
        self.problem = problem
        self.advice = advice
        self.parameters = parameters
    }

    public var httpStatus: Int {
        switch problem {
        case .versionRejected, .parameterAbsent, .parameterRejected, .timestampRefused, .signatureMethodRejected: 400
        default: 401
        }
    }

    public var description: String { "\(problem.rawValue): \(advice)" }

    public static func == (lhs: OAuth1Problem, rhs: OAuth1Problem) -> Bool {
        lhs.problem == rhs.problem && lhs.parameters.map(\.name) == rhs.parameters.map(\.name)
            && lhs.parameters.map(\.value) == rhs.parameters.map(\.value)
    }

    /// All problem parameters, `oauth_problem` first, as the body of token endpoints carries them.
    public var allParameters: [(name: String, value: String)] {
        [("oauth_problem", problem.rawValue)] + parameters + [("oauth_problem_advice", advice)]
    }
}
