import LinkgateCore
import Logging
import ServiceLifecycle

/// Deletes expired sessions (and, as later issues add them, codes and tokens) on a schedule,
/// so the database does not grow without bound.
struct PruneService: Service {
    let store: any LinkgateStore
    let interval: Duration
    let now: @Sendable () -> Int64
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await prune()
                try await Task.sleep(for: interval)
            }
        }
    }

    func prune() async {
        do {
            let sessions = try await store.pruneSessions(now: now())
            if sessions > 0 { logger.info("pruned expired rows", metadata: ["sessions": "\(sessions)"]) }
        } catch {
            logger.warning("pruning failed; will retry", metadata: ["error": "\(String(describing: type(of: error)))"])
        }
    }
}
