import Hummingbird
import NIOCore

/// An error on a browser page, shown as a small HTML page rather than JSON.
struct PageError: Error, HTTPResponseError {
    let status: HTTPResponse.Status
    let title: String
    let message: String

    static func forbidden(_ message: String) -> PageError { .init(status: .forbidden, title: "Request refused", message: message) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let base = HTML.escape(PageChrome.base)
        let banner = PageChrome.fixtureBanner
            ? #"<div class="fixture-banner" role="note" id="fixture-banner">fixture — not for production</div>"# : ""
        let html = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">\
            <title>\(HTML.escape(title)) – Linkgate</title><link rel="stylesheet" href="\(base)/static/linkgate.css"></head>\
            <body>\(banner)<main class="card"><h1>\(HTML.escape(title))</h1><p>\(HTML.escape(message))</p><p><a href="\(base)/">Back to Linkgate</a></p></main></body></html>
            """
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"]
        headers[.pragma] = "no-cache"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

/// What every page, `Pages` and error pages alike, needs to know of the server answering: a
/// fixture sandbox's base path and fixture mode's banner (INTERFACE §12). Set per request by
/// `FixtureMiddleware`; `serve` leaves the defaults.
enum PageChrome {
    @TaskLocal static var base = ""
    @TaskLocal static var fixtureBanner = false
}

enum HTML {
    /// Escapes text for HTML content and attribute values.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
