import Hummingbird
import LinkgateCore
import NIOCore

/// The request context of every Linkgate route.
public struct LinkgateContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection, kept so the peer address is read only by the requests that need it.
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Bodies are read explicitly with a 64 KiB cap (`Request.readBody`).
    public var maxUploadSize: Int { 64 * 1024 }

    /// The socket's peer (not yet the client: see `ClientAddressResolver`); nil for a Unix socket.
    var peerAddress: IPAddress? {
        guard let text = channel.remoteAddress?.ipAddress else { return nil }
        return IPAddress(text)
    }
}
