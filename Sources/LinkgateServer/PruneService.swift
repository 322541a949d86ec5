import LinkgateCore
import Logging
import ServiceLifecycle

/// Deletes expired sessions, codes and tokens on a schedule,
/// so the database does not grow without bound.
struct PruneService: Service {
    let store: any ServerStore
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
            let at = now()
            let sessions = try await store.pruneSessions(now: at)
            let grants = try await store.pruneExpiredGrants(now: at)
            if sessions + grants > 0 {
                logger.info("pruned expired rows", metadata: ["sessions": "\(sessions)", "codes_and_tokens": "\(grants)"])
            }
        } catch {
            logger.warning("pruning failed; will retry", metadata: ["error": "\(String(describing: type(of: error)))"])
        }
    }
}
