import AsyncHTTPClient
import Foundation
import NIOCore
import OAuth1

/// Fetches a peer's `/plugins/servlet/oauth/consumer-info` for consumer registration:
/// http(s) only, 5 s timeout, 64 KiB cap, and every failure is a clear 400.
enum ConsumerInfoFetcher {
    static let timeout: TimeAmount = .seconds(5)
    static let maximumBytes = 64 * 1024

    static func fetch(_ url: String) async throws -> ConsumerInfo {
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), url.utf8.count <= 2048, URL(string: url)?.host != nil else {
            throw APIError.invalidRequest("consumerInfoUrl: must be an absolute http(s) URL")
        }
        var outgoing = HTTPClientRequest(url: url)
        outgoing.headers.add(name: "Accept", value: "application/xml, text/xml")
        let request = outgoing
        let body: ByteBuffer
        do {
            // One deadline for the whole exchange, headers and body: a peer that trickles or
            // stalls mid-body is cut off too.
            body = try await withDeadline(timeout) {
                let response = try await HTTPClient.shared.execute(request, timeout: timeout)
                guard response.status == .ok else {
                    throw APIError.invalidRequest("consumerInfoUrl: the peer answered HTTP \(response.status.code)")
                }
                return try await response.body.collect(upTo: maximumBytes)
            }
        } catch let error as APIError {
            throw error
        } catch is NIOTooManyBytesError {
            throw APIError.invalidRequest("consumerInfoUrl: the document is larger than \(maximumBytes) bytes")
        } catch {
            throw APIError.invalidRequest("consumerInfoUrl: the peer could not be reached (\(Self.reason(error)))")
        }
        do {
            return try ConsumerInfo.parse(Array(buffer: body))
        } catch let error as ConsumerInfo.ParseError {
            throw APIError.invalidRequest("consumerInfoUrl: \(error.description)")
        }
    }

    static func reason(_ error: Error) -> String {
        if error is DeadlineExceeded { return "timed out after 5 s" }
        if let error = error as? HTTPClientError, error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return "timed out after 5 s"
        }
        return "connection failed"
    }

    struct DeadlineExceeded: Error {}

    /// Runs `work`, cancelling it once `timeout` has passed.
    static func withDeadline<T: Sendable>(_ timeout: TimeAmount, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await work() }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(timeout.nanoseconds))
                throw DeadlineExceeded()
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}
