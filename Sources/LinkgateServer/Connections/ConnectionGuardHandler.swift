import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Per-connection limits Hummingbird's HTTP/1 channel lacks (INTERFACE §10 "Connections"):
/// - the connection limit (``ConnectionLimiter``), checked when the connection becomes active;
/// - the request-head deadline: a complete head must arrive within `headTimeout` of opening, or,
///   on a keep-alive connection, of the first byte after the previous response (before that
///   byte the idle timeout applies, so idle keep-alive connections live `--idle-timeout`);
/// - an oversized head (NIO's decoder reports `headerOverflow`) answers `431` and closes.
///
/// Sits after the HTTP/1 decoder (it sees request heads and response ends) and adds a
/// ``RawBytesObserver`` at the front of the pipeline to learn when bytes arrive.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum Phase {
        /// Opened, or bytes of a new head arrived: the head deadline runs.
        case awaitingHead
        /// A head was read; its response is not finished.
        case inRequest
        /// Response written, no byte of a next request yet: only the idle timeout runs.
        case idle
    }

    private let limiter: ConnectionLimiter?
    private let headTimeout: TimeAmount
    private let logger: Logger
    private var context: ChannelHandlerContext?
    private var started = false
    private var phase = Phase.awaitingHead
    private var requestsInProgress = 0
    private var headDeadline: Scheduled<Void>?

    init(limiter: ConnectionLimiter?, headTimeout: TimeAmount, logger: Logger) {
        self.limiter = limiter
        self.headTimeout = headTimeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        try? context.pipeline.syncOperations.addHandler(RawBytesObserver(guardHandler: self), position: .first)
        if context.channel.isActive { start(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelHeadDeadline()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        // A connection over the limit is closed here and never reported active down the pipeline.
        guard start(context: context) else { return }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelHeadDeadline()
        context.fireChannelInactive()
    }

    /// Admits the connection (false: over the limit, closed).
    @discardableResult
    private func start(context: ChannelHandlerContext) -> Bool {
        guard !started else { return true }
        started = true
        if let limiter {
            guard limiter.tryOpen() else {
                logger.debug("connection limit reached, closing new connection", metadata: ["max_connections": "\(limiter.maximum)"])
                context.close(promise: nil)
                return false
            }
            context.channel.closeFuture.whenComplete { _ in limiter.release() }
        }
        armHeadDeadline(context: context)
        return true
    }

    /// Called by ``RawBytesObserver`` before the decoder sees the bytes.
    fileprivate func bytesArrived() {
        guard phase == .idle, let context else { return }
        phase = .awaitingHead
        armHeadDeadline(context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            cancelHeadDeadline()
            phase = .inRequest
            requestsInProgress += 1
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            requestsInProgress = max(0, requestsInProgress - 1)
            if requestsInProgress == 0, phase == .inRequest { phase = .idle }
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError, parserError == .headerOverflow else {
            context.fireErrorCaught(error)
            return
        }
        // RFC 6585 §5: 431 Request Header Fields Too Large; a response in progress is cut instead.
        cancelHeadDeadline()
        logger.debug("request head over the limit, answering 431")
        if requestsInProgress == 0 {
            let body = #"{"error":"invalid_request","error_description":"request head too large"}"#
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            let head = HTTPResponse(status: .init(code: 431, reasonPhrase: "Request Header Fields Too Large"),
                                    headerFields: [.connection: "close", .contentType: "application/json",
                                                   .contentLength: "\(buffer.readableBytes)"])
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(buffer)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.close(promise: nil)
    }

    private func armHeadDeadline(context: ChannelHandlerContext) {
        cancelHeadDeadline()
        headDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: headTimeout) { [self] in
            headDeadline = nil
            guard phase == .awaitingHead, let context = self.context else { return }
            logger.debug("no complete request head in time, closing connection")
            context.close(promise: nil)
        }
    }

    private func cancelHeadDeadline() {
        headDeadline?.cancel()
        headDeadline = nil
    }
}

/// First handler of the pipeline: tells the ``ConnectionGuardHandler`` that bytes arrived.
final class RawBytesObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let guardHandler: ConnectionGuardHandler

    fileprivate init(guardHandler: ConnectionGuardHandler) {
        self.guardHandler = guardHandler
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guardHandler.bytesArrived()
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension ConnectionGuardHandler: Sendable {}

@available(*, unavailable)
extension RawBytesObserver: Sendable {}
