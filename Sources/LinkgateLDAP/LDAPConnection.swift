import CLDAP
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A libldap result code that ended an operation, with the library's or server's message.
struct LDAPFailure: Error, CustomStringConvertible {
    var code: Int32
    var operation: String
    var diagnostic: String

    var description: String {
        let text = String(cString: cldap_err2string(code))
        return diagnostic.isEmpty ? "\(operation): \(text) (\(code))" : "\(operation): \(text) (\(code)): \(diagnostic)"
    }

    /// The connection itself is gone (closed by the server, or never made): a reused connection
    /// failing so is retried once on a fresh one.
    var isConnectionLost: Bool {
        code == Int32(CLDAP_SERVER_DOWN) || code == Int32(CLDAP_CONNECT_ERROR)
    }

    /// A user's bind that the directory refused: wrong password, no such DN, a DN that may not
    /// bind, an account the server will not let in. Anything else (unreachable, timeout, TLS,
    /// busy...) means the directory could not answer.
    static func isRefusedBind(_ code: Int32) -> Bool {
        [CLDAP_INVALID_CREDENTIALS, CLDAP_INAPPROPRIATE_AUTH, CLDAP_UNWILLING_TO_PERFORM, CLDAP_INSUFFICIENT_ACCESS,
         CLDAP_NO_SUCH_OBJECT, CLDAP_INVALID_DN_SYNTAX, CLDAP_PARAM_ERROR].contains { Int32($0) == code }
    }
}

/// One entry of a search result: its DN and the values of the attributes asked for.
public struct LDAPEntry: Sendable, Equatable {
    public var dn: String
    /// Values by attribute name in lower case (attribute names are case-insensitive).
    public var attributes: [String: [String]]

    public init(dn: String, attributes: [String: [String]]) {
        self.dn = dn
        self.attributes = Dictionary(attributes.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: +)
    }

    /// The values of `attribute` (any case); empty when absent.
    public func values(_ attribute: String) -> [String] {
        attributes[attribute.lowercased()] ?? []
    }

    /// The first value that is not blank, trimmed of surrounding spaces.
    public func firstValue(_ attribute: String) -> String? {
        values(attribute).lazy.map { String($0.trimmingSpaces) }.first { !$0.isEmpty }
    }
}

/// One libldap connection handle. Blocking: use only on the directory's thread pool, and from one
/// thread at a time (a connection is either in use by one job or idle in the pool's list).
final class LDAPConnection: @unchecked Sendable {
    private var handle: OpaquePointer?
    /// Remembers the socket so that a watchdog can shut it down (see `watched`).
    private var watchdogGuard: OpaquePointer?
    /// How long a blocking call may take before its socket is shut down: the operation timeout
    /// and a second. libldap's own timeouts fire first, except in the TLS handshake of an
    /// ldaps:// connection, which libldap 2.5 does not always bound (locally the watchdog ends a
    /// frozen handshake at 6 s; one CI run saw libldap's timeout end it at 5 s).
    private let watchdogDelay: Duration

    /// Initializes and configures a handle, and with `startTLS` upgrades the connection (which
    /// connects); otherwise the first operation connects.
    init(_ configuration: LDAPConfiguration) throws(LDAPFailure) {
        guard cldap_load() != 0 else {
            throw LDAPFailure(code: Int32(CLDAP_LOCAL_ERROR), operation: "load libldap",
                              diagnostic: String(cString: cldap_load_error()))
        }
        var handle: OpaquePointer?
        let initialized = cldap_initialize(&handle, configuration.url)
        guard initialized == CLDAP_SUCCESS, let handle else {
            throw LDAPFailure(code: initialized, operation: "ldap_initialize \(configuration.url)", diagnostic: "")
        }
        self.handle = handle
        self.watchdogDelay = configuration.operationTimeout + .seconds(1)
        let useTLS = configuration.startTLS || configuration.url.lowercased().hasPrefix("ldaps://")
        let configured = cldap_configure(handle, configuration.connectTimeout.clampedMilliseconds,
                                         configuration.operationTimeout.clampedMilliseconds, useTLS ? 1 : 0,
                                         configuration.caFile)
        guard configured == CLDAP_SUCCESS else {
            throw failure(configured, "set options")
        }
        watchdogGuard = cldap_guard_attach(handle)
        if configuration.startTLS {
            let started = watched { cldap_start_tls(handle) }
            guard started == CLDAP_SUCCESS else { throw failure(started, "StartTLS") }
        }
    }

    deinit { close() }

    /// Closes the connection (an unbind request, no wait for an answer) and frees the handle.
    func close() {
        if let handle {
            _ = cldap_unbind(handle)
            self.handle = nil
        }
        if let watchdogGuard {
            cldap_guard_free(watchdogGuard)
            self.watchdogGuard = nil
        }
    }

    /// A simple bind; returns the result code (`CLDAP_SUCCESS` when bound). An empty password
    /// never reaches the server (`CLDAP_PARAM_ERROR`).
    func bind(dn: String, password: String) -> Int32 {
        guard let handle else { return Int32(CLDAP_SERVER_DOWN) }
        var password = password
        return watched {
            password.withUTF8 { bytes in
                bytes.withMemoryRebound(to: CChar.self) { chars in
                    cldap_simple_bind(handle, dn, chars.baseAddress, chars.count)
                }
            }
        }
    }

    /// Throws unless the bind succeeds.
    func bindOrThrow(dn: String, password: String) throws(LDAPFailure) {
        let code = bind(dn: dn, password: password)
        guard code == CLDAP_SUCCESS else { throw failure(code, "bind as \(dn)") }
    }

    /// A search returning at most `sizeLimit` entries (0: no limit). `sizeLimitExceeded` tells
    /// that more entries matched than were returned; `noSuchBase` that the base does not exist.
    func search(base: String, subtree: Bool, filter: String, attributes: [String], sizeLimit: Int32,
                timeout: Duration) throws(LDAPFailure) -> (entries: [LDAPEntry], sizeLimitExceeded: Bool, noSuchBase: Bool) {
        guard let handle else { throw LDAPFailure(code: Int32(CLDAP_SERVER_DOWN), operation: "search", diagnostic: "closed") }
        var result: OpaquePointer?
        let code = watched {
            withCStringArray(attributes) { attrs in
                cldap_search(handle, base, subtree ? Int32(CLDAP_SCOPE_SUBTREE) : Int32(CLDAP_SCOPE_BASE), filter, attrs,
                             sizeLimit, timeout.clampedMilliseconds, &result)
            }
        }
        defer { cldap_msgfree(result) }
        switch code {
        case Int32(CLDAP_SUCCESS), Int32(CLDAP_SIZELIMIT_EXCEEDED):
            return (readEntries(result, attributes: attributes), code == Int32(CLDAP_SIZELIMIT_EXCEEDED), false)
        case Int32(CLDAP_NO_SUCH_OBJECT):
            return ([], false, true)
        default:
            throw failure(code, "search \(base)")
        }
    }

    private func readEntries(_ result: OpaquePointer?, attributes: [String]) -> [LDAPEntry] {
        guard let handle, let result else { return [] }
        var entries: [LDAPEntry] = []
        var entry = cldap_first_entry(handle, result)
        while let current = entry {
            var dn = ""
            if let pointer = cldap_get_dn(handle, current) {
                dn = String(cString: pointer)
                cldap_memfree(pointer)
            }
            var values: [String: [String]] = [:]
            for attribute in attributes where attribute != "1.1" {
                guard let list = cldap_get_values(handle, current, attribute) else { continue }
                var strings: [String] = []
                for index in 0..<cldap_values_count(list) {
                    var length = 0
                    let bytes = cldap_value_at(list, index, &length)
                    let buffer = UnsafeRawBufferPointer(start: UnsafeRawPointer(bytes), count: bytes == nil ? 0 : length)
                    strings.append(String(decoding: buffer, as: UTF8.self))
                }
                cldap_values_free(list)
                values[attribute.lowercased(), default: []] += strings
            }
            entries.append(LDAPEntry(dn: dn, attributes: values))
            entry = cldap_next_entry(handle, current)
        }
        return entries
    }

    /// Runs a blocking libldap call; if it has not returned after `watchdogDelay`, its socket is
    /// shut down from another thread, which makes it fail at once.
    private func watched<T>(_ body: () -> T) -> T {
        let watch = Watch(watchdogGuard)
        DispatchQueue.global().asyncAfter(deadline: .now() + watchdogDelay.timeInterval) {
            watch.interruptUnlessDone()
        }
        defer { watch.finish() }
        return body()
    }

    private func failure(_ code: Int32, _ operation: String) -> LDAPFailure {
        var diagnostic = ""
        if let handle, let message = cldap_diagnostic(handle) {
            diagnostic = String(cString: message)
            cldap_memfree(message)
        }
        return LDAPFailure(code: code, operation: operation, diagnostic: diagnostic)
    }
}

/// One watched call: the watchdog shuts the socket down only while the call is still running (the
/// guard is freed only after the call, when the connection closes).
private final class Watch: @unchecked Sendable {
    private let state = Mutex(false)
    private let watchdogGuard: OpaquePointer?

    init(_ watchdogGuard: OpaquePointer?) { self.watchdogGuard = watchdogGuard }

    func interruptUnlessDone() {
        state.withLock { done in
            if !done { cldap_guard_interrupt(watchdogGuard) }
        }
    }

    func finish() { state.withLock { $0 = true } }
}

extension Duration {
    var timeInterval: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

/// Calls `body` with a NULL-terminated C array of the strings (valid only during the call).
private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let duplicates = strings.map { strdup($0) }
    defer { duplicates.forEach { free($0) } }
    let pointers: [UnsafePointer<CChar>?] = duplicates.map { UnsafePointer($0) } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Whether the OpenLDAP client library could be loaded (it is loaded on first use).
public enum LDAPLibrary {
    /// True when libldap is installed and has every function used.
    public static var isAvailable: Bool { cldap_load() != 0 }
    /// Why it is not available ("" when it is).
    public static var loadError: String { String(cString: cldap_load_error()) }
}
