import HTTPTypes
import Hummingbird

/// A fixture sandbox answers under `<BASE>/s/<id>` (INTERFACE §12) while its routes see paths
/// from `/`: its redirects to its own paths and its cookies' paths get the prefix back.
/// (Links and form actions in its pages get it from `Pages.base`.)
struct MountMiddleware: RouterMiddleware {
    typealias Context = LinkgateContext
    let path: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if let location = response.headers[.location], location.hasPrefix("/"), !location.hasPrefix("//") {
            response.headers[.location] = path + location
        }
        let cookies = response.headers[values: .setCookie]
        if !cookies.isEmpty {
            response.headers[.setCookie] = nil
            for cookie in cookies {
                response.headers.append(HTTPField(name: .setCookie, value: cookie.replacingOccurrences(of: "; Path=/", with: "; Path=\(path)/")))
            }
        }
        return response
    }
}

