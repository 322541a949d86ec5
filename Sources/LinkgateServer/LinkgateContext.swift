import Hummingbird

/// The request context of every Linkgate route.
public struct LinkgateContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// Bodies are read explicitly with a 64 KiB cap (`Request.readBody`).
    public var maxUploadSize: Int { 64 * 1024 }
}
