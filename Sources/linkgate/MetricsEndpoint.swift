import CoreMetrics
import Foundation
import Hummingbird
import LinkgateMetrics
import Logging
import NIOCore
import Prometheus

/// `--metrics-port` (INTERFACE §15): swift-metrics bootstrapped with a Prometheus registry, and
/// `GET /metrics` in the Prometheus text format on a listener of its own, never the public port.
struct MetricsEndpoint {
    let registry: PrometheusCollectorRegistry
    private let residentMemory: Prometheus.Gauge
    private let openFileDescriptors: Prometheus.Gauge

    /// Makes swift-metrics record into a new registry; call once, before anything records.
    static func bootstrap() -> MetricsEndpoint {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = LinkgateMetrics.durationBuckets
        factory.valueHistogramBuckets = LinkgateMetrics.valueBuckets
        MetricsSystem.bootstrap(factory)
        LinkgateMetrics.enable()
        return MetricsEndpoint(registry: registry)
    }

    private init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        residentMemory = registry.makeGauge(name: "process_resident_memory_bytes", help: "Resident memory size in bytes.")
        openFileDescriptors = registry.makeGauge(name: "process_open_fds", help: "Number of open file descriptors.")
    }

    /// The scrape: process figures read now, then every family.
    func exposition() -> ByteBuffer {
        if let bytes = Self.residentBytes() { residentMemory.set(Double(bytes)) }
        if let count = Self.openDescriptorCount() { openFileDescriptors.set(Double(count)) }
        return ByteBuffer(bytes: registry.emitToBuffer())
    }

    func application(host: String, port: Int, logger: Logger) -> some ApplicationProtocol {
        let router = Router()
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                     body: .init(byteBuffer: exposition()))
        }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "Linkgate metrics"),
                           logger: logger)
    }

    /// Linux: `/proc/self/statm`'s second field, resident pages.
    static func residentBytes() -> Int? {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * sysconf(Int32(_SC_PAGESIZE))
    }

    /// Linux: the entries of `/proc/self/fd`, less the one the listing itself holds open.
    static func openDescriptorCount() -> Int? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return nil }
        return max(0, entries.count - 1)
    }
}
