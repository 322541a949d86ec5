import Hummingbird
import Mustache
import NIOCore

/// Server-rendered pages from `Resources/templates/*.mustache` (HTML-escaped by default).
/// Links and form actions start with `{{base}}`, and the fixture banner shows, as `PageChrome`
/// says for the request (INTERFACE §12).
struct Pages: Sendable {
    let library: MustacheLibrary

    init(resourcesPath: String) async throws {
        library = try await MustacheLibrary(directory: resourcesPath + "/templates")
    }

    /// Renders `template` as an HTML response that is never cached.
    func render(_ template: String, _ values: [String: Any], status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) throws -> Response {
        var values = values
        values["base"] = PageChrome.base
        if PageChrome.fixtureBanner { values["fixture"] = true }
        guard let html = library.render(Self.droppingNils(values), withTemplate: template) else {
            throw PageError(status: .internalServerError, title: "Page unavailable", message: "The page template is missing.")
        }
        var headers = extra
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[.pragma] = "no-cache"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// Removes `Optional.none` values: boxed in `Any` they are truthy to Mustache and render as "nil".
    static func droppingNils(_ value: Any) -> Any {
        switch value {
        case let dictionary as [String: Any]:
            var result: [String: Any] = [:]
            for (key, item) in dictionary {
                if let unwrapped = unwrap(item) { result[key] = droppingNils(unwrapped) }
            }
            return result
        case let array as [Any]:
            return array.compactMap(unwrap).map(droppingNils)
        default:
            return value
        }
    }

    private static func unwrap(_ value: Any) -> Any? {
        let mirror = Mirror(reflecting: value)
        guard mirror.displayStyle == .optional else { return value }
        return mirror.children.first.map { unwrap($0.value) } ?? nil
    }
}
