import Foundation
import Hummingbird
import LinkgateCore
import NIOCore

/// `GET /rest/openapi.json` (INTERFACE §15): the OpenAPI 3.1 description of every REST and OAuth
/// endpoint, read once from `Resources/openapi.json` at start, its `servers` set to the base URL.
/// Public, like the RFC 8414 metadata: it describes the API, never its data.
struct OpenAPIRoutes {
    let document: ByteBuffer

    init(resourcesPath: String, baseURL: String) throws {
        document = ByteBuffer(string: try Self.document(resourcesPath: resourcesPath, baseURL: baseURL))
    }

    /// The stored document with `servers` = `[{"url": baseURL}]`.
    static func document(resourcesPath: String, baseURL: String) throws -> String {
        let path = resourcesPath + "/openapi.json"
        guard let bytes = FileManager.default.contents(atPath: path), case .object(var members)? = JSONValue.parse(bytes) else {
            throw OpenAPIDocumentError(path: path)
        }
        members["servers"] = .array([.object(["url": .string(baseURL)])])
        return JSONValue.object(members).serialized()
    }

    func add(to router: Router<LinkgateContext>) {
        router.get("/rest/openapi.json", use: serve)
    }

    @Sendable func serve(_ request: Request, context: LinkgateContext) async throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "public, max-age=300"],
                 body: .init(byteBuffer: document))
    }
}

/// `Resources/openapi.json` is missing or not a JSON object: the server does not start.
struct OpenAPIDocumentError: Error, CustomStringConvertible {
    let path: String
    var description: String { "\(path) is missing or is not a JSON object" }
}
