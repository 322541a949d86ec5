import Foundation
import NIOCore
import NIOPosix

// Swift concurrency runs on NIO's event loops, so a request's handler continues on the thread
// that read the request instead of hopping to the cooperative pool and back (measured with
// scripts/bench). Blocking work never runs there: scrypt is offloaded to Dispatch, SQLite
// writes go through GRDB's writer queue, and reads are single statements of microseconds.
// This must happen on the main thread before any task starts.
NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
Task {
    await Linkgate.mainWithOneLineAdminErrors()
    exit(0)
}
dispatchMain()
