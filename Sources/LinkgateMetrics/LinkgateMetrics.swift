import CoreMetrics
import Synchronization

/// Linkgate's metric families (INTERFACE §15), recorded through swift-metrics. `serve
/// --metrics-port` bootstraps a Prometheus factory and calls `enable()`; until then every call
/// here returns at once, so a server without metrics pays one atomic load per event.
///
/// Handles are made once per label set and kept: the factory lookup (a lock and a dictionary
/// in swift-prometheus' registry) is not repeated per request. Label values come only from
/// bounded sets (route templates, methods, status codes, error codes): never raw paths, ids or
/// user names, which would let a client grow the registry without bound.
public enum LinkgateMetrics {
    private static let enabled = Atomic<Bool>(false)

    public static var isEnabled: Bool { enabled.load(ordering: .relaxed) }

    /// Starts recording; call after `MetricsSystem.bootstrap` and before the first event.
    public static func enable() { enabled.store(true, ordering: .releasing) }

    // MARK: Families

    /// One HTTP request: `linkgate_http_requests_total{route,method,status}` and
    /// `linkgate_http_request_duration_seconds{route}`. `route` is the matched route's template.
    public static func httpRequest(route: String, method: String, status: Int, nanoseconds: Int64) {
        guard isEnabled else { return }
        let method = knownMethods.contains(method) ? method : "other"
        requests.handle(RequestKey(route: route, method: method, status: status)) { key in
            Counter(label: "linkgate_http_requests_total",
                    dimensions: [("route", key.route), ("method", key.method), ("status", String(key.status))])
        }.increment()
        requestDurations.handle(route) { route in
            Timer(label: "linkgate_http_request_duration_seconds", dimensions: [("route", route)])
        }.recordNanoseconds(nanoseconds)
    }

    /// A token issued: `linkgate_tokens_issued_total{protocol,grant,mode}`.
    public static func tokenIssued(protocol proto: String, grant: String, mode: String) {
        guard isEnabled else { return }
        tokens.handle([proto, grant, mode]) { _ in
            Counter(label: "linkgate_tokens_issued_total", dimensions: [("protocol", proto), ("grant", grant), ("mode", mode)])
        }.increment()
    }

    /// A refused credential: `linkgate_auth_failures_total{kind,reason}`; `kind` names the
    /// credential (password, client, bearer, oauth1, grant), `reason` the protocol's error code.
    public static func authFailure(kind: String, reason: String) {
        guard isEnabled else { return }
        failures.handle([kind, reason]) { _ in
            Counter(label: "linkgate_auth_failures_total", dimensions: [("kind", kind), ("reason", reason)])
        }.increment()
    }

    /// A request refused by a throttle or lockout (INTERFACE §10): `linkgate_throttled_total{kind}`.
    public static func throttled(kind: String) {
        guard isEnabled else { return }
        throttles.handle(kind) { kind in Counter(label: "linkgate_throttled_total", dimensions: [("kind", kind)]) }.increment()
    }

    /// One store transaction committed: `linkgate_store_commit_duration_seconds{store}`, and for a
    /// group commit (SQLite's writer, PostgreSQL's `StatementBatches`) the number of requests it
    /// carried, `linkgate_store_commit_batch_size{store}`.
    public static func storeCommit(store: String, nanoseconds: Int64, batchSize: Int? = nil) {
        guard isEnabled else { return }
        commitDurations.handle(store) { store in
            Timer(label: "linkgate_store_commit_duration_seconds", dimensions: [("store", store)])
        }.recordNanoseconds(nanoseconds)
        if let batchSize {
            commitBatches.handle(store) { store in
                Recorder(label: "linkgate_store_commit_batch_size", dimensions: [("store", store)], aggregate: true)
            }.record(batchSize)
        }
    }

    /// Histogram buckets (a Prometheus factory's per-label settings): request and commit times
    /// of a few hundred microseconds to seconds, batches of 1 to the writer's bound of 256.
    public static let durationBuckets: [String: [Duration]] = [
        "linkgate_http_request_duration_seconds": [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
        ],
        "linkgate_store_commit_duration_seconds": [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1),
        ],
    ]
    public static let valueBuckets: [String: [Double]] = [
        "linkgate_store_commit_batch_size": [1, 2, 4, 8, 16, 32, 64, 128, 256],
    ]

    // MARK: Handles

    private static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

    private struct RequestKey: Hashable, Sendable {
        let route: String, method: String, status: Int
    }

    private static let requests = Handles<RequestKey, Counter>()
    private static let requestDurations = Handles<String, Timer>()
    private static let tokens = Handles<[String], Counter>()
    private static let failures = Handles<[String], Counter>()
    private static let throttles = Handles<String, Counter>()
    private static let commitDurations = Handles<String, Timer>()
    private static let commitBatches = Handles<String, Recorder>()
}

/// Metric handles by label values, made on first use.
private final class Handles<Key: Hashable & Sendable, Handle: AnyObject & Sendable>: Sendable {
    private let handles = Mutex<[Key: Handle]>([:])

    func handle(_ key: Key, make: (Key) -> Handle) -> Handle {
        handles.withLock { handles in
            if let handle = handles[key] { return handle }
            let handle = make(key)
            handles[key] = handle
            return handle
        }
    }
}

extension Duration {
    /// Whole nanoseconds (saturating), for swift-metrics timers.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : whole.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}
