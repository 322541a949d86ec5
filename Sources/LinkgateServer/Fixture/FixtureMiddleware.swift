import Foundation
import Hummingbird
import LinkgateCore
import LinkgateCrypto
import NIOCore
import OAuth1

/// Fixture mode's scripted faults and request journal (INTERFACE §12), around every request of
/// one fixture server or sandbox except the control API and static files.
struct FixtureMiddleware: RouterMiddleware {
    typealias Context = LinkgateContext
    let services: Services
    let fixture: FixtureMode

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try await PageChrome.$base.withValue(fixture.mountPath) {
            try await PageChrome.$fixtureBanner.withValue(true) { try await journaled(request, context: context, next: next) }
        }
    }

    private func journaled(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if path.hasPrefix("/__fixture/") || path == "/__fixture" || path.hasPrefix("/static/") || path == "/admin/requests" { return try await next(request, context) }
        var request = request
        let endpoint = FixtureEndpoint(path: path)
        var form: [(name: String, value: String)] = []
        if request.method == .post, request.headers[.contentType]?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true {
            // Read here (and kept in the request for the route) to learn client_id and grant_type.
            do {
                let buffer = try await request.collectBody(upTo: maximumBodyBytes)
                form = (try? FormURLEncoded.parse(bytes: Array(buffer: buffer))) ?? []
            } catch {
                let response = try APIError.tooLarge(limit: maximumBodyBytes).response(from: request, context: context)
                record(request, endpoint: endpoint, status: response.status.code, facts: Facts())
                return response
            }
        }
        let facts = await self.facts(request, context, endpoint: endpoint, form: form)
        var response: Response
        if let endpoint, let fault = fixture.faults.take(endpoint: endpoint, clientId: facts.clientId, grantType: facts.grantType,
                                                          user: facts.user) {
            if let delay = fault.delayMs, delay > 0 { try await Task.sleep(for: .milliseconds(delay)) }
            if fault.drop {
                // The connection closes with no answer, as a crashed or cut-off server's would.
                record(request, endpoint: endpoint, status: 0, facts: facts)
                try? await context.channel.close()
                throw CancellationError()
            }
            response = fault.replacesAnswer ? Self.answer(fault) : try await next(request, context)
        } else {
            response = try await next(request, context)
        }
        record(request, endpoint: endpoint, status: response.status.code, facts: facts)
        return response
    }

    /// A scripted answer: an OAuth error as JSON (`400` unless a status is given), or a raw body.
    static func answer(_ fault: FaultBook.Fault) -> Response {
        var headers: HTTPFields = [.cacheControl: "no-store"]
        headers[.pragma] = "no-cache"
        var body = ByteBuffer()
        if let error = fault.error {
            headers[.contentType] = "application/json; charset=utf-8"
            let object: [String: JSONValue] = ["error": .string(error), "error_description": .optional(fault.errorDescription)]
            body = ByteBuffer(string: JSONValue.object(object).serialized())
        } else if let raw = fault.body {
            headers[.contentType] = fault.contentType ?? "text/plain; charset=utf-8"
            body = ByteBuffer(string: raw)
        }
        let status = fault.status ?? (fault.error != nil ? 400 : 200)
        return Response(status: HTTPResponse.Status(code: status), headers: headers, body: .init(byteBuffer: body))
    }

    struct Facts {
        var clientId: String?
        var grantType: String?
        var user: String?
        var oauth1: (baseString: String, signatureValid: Bool)?
    }

    /// Who the request is from, as far as it shows before it is handled: its client (form, query,
    /// HTTP Basic at the OAuth endpoints, OAuth 1.0 consumer key, bearer token) and its user
    /// (login form, browser session, HTTP Basic elsewhere, bearer token).
    private func facts(_ request: Request, _ context: Context, endpoint: FixtureEndpoint?,
                       form: [(name: String, value: String)]) async -> Facts {
        var facts = Facts()
        let query = request.queryPairs ?? []
        func first(_ name: String) -> String? { form.first { $0.name == name }?.value ?? query.first { $0.name == name }?.value }
        facts.clientId = first("client_id")
        facts.grantType = form.first { $0.name == "grant_type" }?.value
        if endpoint == .login { facts.user = form.first { $0.name == "username" }?.value }
        if let authorization = request.headers[.authorization] {
            let (scheme, credential) = Authenticator.split(authorization)
            switch scheme {
            case "basic":
                if let decoded = Base64URL.decode(credential), let text = String(validating: decoded, as: UTF8.self),
                   let colon = text.firstIndex(of: ":") {
                    let name = FormURLEncoded.decodeIfPossible(String(text[..<colon]))
                    if [.token, .revoke, .introspect].contains(endpoint) { facts.clientId = facts.clientId ?? name } else { facts.user = name }
                }
            case "bearer":
                if let record = try? await services.store.liveToken(digest: Digest.tokenKey(of: credential), now: services.now()) {
                    facts.clientId = record.clientId
                    facts.user = record.userName
                }
            default: break
            }
        }
        if authorizationIsOAuth1(request) || first("oauth_signature") != nil,
           let signed = try? services.config.signedRequest(request, form: form, clientAddress: nil),
           let inspection = await services.auth.oauth1.inspect(signed) {
            facts.clientId = facts.clientId ?? inspection.consumerKey
            let masked = inspection.signedParameters.map { ProtocolParameters.Pair(name: $0.name, value: JournalMask.value($0.name, $0.value)) }
            facts.oauth1 = (SignatureBaseString.make(method: signed.method, baseStringURI: signed.baseStringURI, parameters: masked),
                            inspection.signatureValid)
        }
        if facts.user == nil, request.cookies[Sessions.cookieName] != nil, let session = try? await services.sessions.current(request) {
            facts.user = session.user.name
        }
        return facts
    }

    private func authorizationIsOAuth1(_ request: Request) -> Bool {
        request.headers[.authorization].map { Authenticator.split($0).scheme == "oauth" } ?? false
    }

    private func record(_ request: Request, endpoint: FixtureEndpoint?, status: Int, facts: Facts) {
        fixture.journal.append(Journal.Entry(
            id: 0, time: services.now(), method: request.method.rawValue,
            path: fixture.mountPath + JournalMask.pathAndQuery(path: request.uri.path, query: request.uri.query),
            endpoint: endpoint, status: status, clientId: facts.clientId, grantType: facts.grantType, user: facts.user,
            oauth1: facts.oauth1))
    }
}

extension FormURLEncoded {
    /// Percent-decodes `text` if it is valid, else returns it as is.
    static func decodeIfPossible(_ text: String) -> String { (try? decode(text, plusIsSpace: true)) ?? text }
}
