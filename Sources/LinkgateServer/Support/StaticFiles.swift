import Foundation
import Hummingbird
import NIOCore

/// The console's own CSS and script, read once at start-up from `Resources/static`.
struct StaticFiles: Sendable {
    private let files: [String: (type: String, body: ByteBuffer)]

    static let served = ["linkgate.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"]

    init(resourcesPath: String) throws {
        var files: [String: (String, ByteBuffer)] = [:]
        for (name, type) in Self.served {
            let text = try String(contentsOfFile: resourcesPath + "/static/" + name, encoding: .utf8)
            files[name] = (type, ByteBuffer(string: text))
        }
        self.files = files
    }

    func add(to router: Router<LinkgateContext>) {
        for (name, file) in files {
            router.get(RouterPath("/static/" + name)) { _, _ in
                Response(status: .ok, headers: [.contentType: file.type, .cacheControl: "public, max-age=3600"], body: .init(byteBuffer: file.body))
            }
        }
    }
}
