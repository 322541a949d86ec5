// Redirect-URI registration (INTERFACE §5, LinkgateCore/RedirectURI).
// Invariants: an accepted URI is printable ASCII without a fragment or user info, at most
// 2048 bytes, and Foundation's URL parser (a second opinion) reads the same scheme and host
// from it, so the host the server checked is the host a browser is sent to; `http` only for
// loopback hosts; a bracketed host is a valid IPv6 address. Lists: accepted lists have no duplicates and at most 20 entries.
import FuzzSupport
import Foundation
import LinkgateCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRedirectURI(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes, as: UTF8.self)

    if (try? RedirectURI.validate(text)) != nil {
        require(text.utf8.count <= RedirectURI.maximumLength)
        require(text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "non-printable byte accepted")
        require(!text.contains("#"), "fragment accepted")
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              let host = components.host?.lowercased() else {
            fatalError("accepted redirect URI that URLComponents cannot read: \(text)")
        }
        require(scheme == "https" || scheme == "http", "scheme \(scheme) accepted")
        require(components.user == nil && components.password == nil && components.fragment == nil)
        // The host as written between `://` and the port/path, compared with Foundation's reading.
        let authority = text[text.range(of: "://")!.upperBound...].prefix { $0 != "/" && $0 != "?" }
        require(!authority.contains("@"), "user info accepted")  // `@` may appear in the path (RFC 3986 pchar)
        let writtenHost = authority.hasPrefix("[") ? String(authority.prefix { $0 != "]" }.dropFirst())
                                                   : String(authority.prefix { $0 != ":" })
        let foundationHost = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        require(writtenHost.lowercased() == foundationHost, "host '\(writtenHost)' read by Foundation as '\(host)'")
        // An IP literal is a real IPv6 address (RFC 3986 §3.2.2).
        if authority.hasPrefix("[") { require(IPAddress(writtenHost)?.family == .ipv6, "invalid IP literal [\(writtenHost)] accepted") }
        if scheme == "http" {
            require(["127.0.0.1", "::1", "localhost"].contains(foundationHost), "http to non-loopback \(host)")
        }
    }

    // The same bytes as a newline-separated list.
    let list = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if (try? RedirectURI.validate(list: list)) != nil {
        require(list.count <= RedirectURI.maximumCount && Set(list).count == list.count)
    }
    return 0
}
