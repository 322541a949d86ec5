import HTTPTypes
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Testing
@testable import LinkgateServer

/// INTERFACE §10 "Connections": the head deadline, the connection limit and the head size limit,
/// on the same pipeline Hummingbird's HTTP1Channel builds, with a virtual clock.
@Suite struct ConnectionGuardTests {
    /// A channel with NIO's HTTP/1 codec (16 KiB head limit), the HTTPTypes codec and the guard.
    static func channel(limiter: ConnectionLimiter? = nil) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = 16 * 1024
        limits.maxHeaderListSize = 16 * 1024
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
            withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits)
        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
        try channel.pipeline.syncOperations.addHandler(
            ConnectionGuardHandler(limiter: limiter, headTimeout: .seconds(10), logger: Logger(label: "test")))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        return channel
    }

    static func send(_ channel: EmbeddedChannel, _ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    static func respond(_ channel: EmbeddedChannel) throws {
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok, headerFields: [.contentLength: "0"])))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
    }

    static func outboundText(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    @Test func silentConnectionIsClosedTenSecondsAfterOpening() throws {
        let channel = try Self.channel()
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(9_900))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(100))
        #expect(!channel.isActive)
    }

    @Test func trickledHalfHeadIsClosedTenSecondsAfterOpening() throws {
        let channel = try Self.channel()
        try Self.send(channel, "GET /status HTTP/1.1\r\n")
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        try Self.send(channel, "Host: 127.0.0.1\r\n")
        channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        try Self.send(channel, "Accept: */*\r\n")
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test func completeHeadStopsTheDeadlineAndIdleKeepAliveIsLeftToTheIdleTimeout() throws {
        let channel = try Self.channel()
        try Self.send(channel, "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let part = try channel.readInbound(as: HTTPRequestPart.self)
        guard case .head(let head) = part else { Issue.record("expected a head, got \(String(describing: part))"); return }
        #expect(head.path == "/status")
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))  // a slow handler is not cut
        #expect(channel.isActive)
        try Self.respond(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(120))  // idle keep-alive: not the head deadline
        #expect(channel.isActive)
        // The first byte of the next head starts its 10 s.
        try Self.send(channel, "GET /sta")
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(9_900))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(100))
        #expect(!channel.isActive)
    }

    @Test func secondRequestOnKeepAliveIsServedWhenComplete() throws {
        let channel = try Self.channel()
        try Self.send(channel, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        try Self.respond(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(20))
        try Self.send(channel, "GET /b HTTP/1.1\r\n")
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        try Self.send(channel, "Host: x\r\n\r\n")
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(channel.isActive)
    }

    @Test func headOverSixteenKiBGets431AndIsClosed() throws {
        let channel = try Self.channel()
        let filler = String(repeating: "a", count: 17 * 1024)
        try Self.send(channel, "GET /status HTTP/1.1\r\nHost: x\r\nX-Filler: \(filler)\r\n\r\n")
        let text = try Self.outboundText(channel)
        #expect(text.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
        #expect(text.contains("request head too large"))
        #expect(!channel.isActive)
    }

    @Test func eightKiBHeadPasses() throws {
        let channel = try Self.channel()
        let filler = String(repeating: "a", count: 8 * 1024)
        try Self.send(channel, "GET /status HTTP/1.1\r\nHost: x\r\nX-Filler: \(filler)\r\n\r\n")
        let part = try channel.readInbound(as: HTTPRequestPart.self)
        guard case .head(let head) = part else { Issue.record("expected a head"); return }
        #expect(head.headerFields[HTTPField.Name("X-Filler")!]?.count == 8 * 1024)
        #expect(channel.isActive)
    }

    @Test func connectionsAboveTheLimitAreClosedAtOnceAndSlotsComeBack() throws {
        let limiter = ConnectionLimiter(maximum: 2)
        let first = try Self.channel(limiter: limiter)
        let second = try Self.channel(limiter: limiter)
        let third = try Self.channel(limiter: limiter)
        #expect(first.isActive && second.isActive)
        #expect(!third.isActive)
        #expect(limiter.open == 2)
        try first.close().wait()
        first.embeddedEventLoop.run()
        #expect(limiter.open == 1)
        let fourth = try Self.channel(limiter: limiter)
        #expect(fourth.isActive)
        #expect(limiter.open == 2)
    }

    @Test func limiterNeverExceedsItsMaximum() {
        let limiter = ConnectionLimiter(maximum: 3)
        let taken = (0..<10).filter { _ in limiter.tryOpen() }.count
        #expect(taken == 3)
        limiter.release()
        #expect(limiter.tryOpen())
        #expect(!limiter.tryOpen())
    }
}
