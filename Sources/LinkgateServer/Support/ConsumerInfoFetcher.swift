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
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/xml, text/xml")
        let body: ByteBuffer
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: timeout)
            guard response.status == .ok else {
                throw APIError.invalidRequest("consumerInfoUrl: the peer answered HTTP \(response.status.code)")
            }
            body = try await response.body.collect(upTo: maximumBytes)
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
        if let error = error as? HTTPClientError, error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return "timed out after 5 s"
        }
        return "connection failed"
    }
}
