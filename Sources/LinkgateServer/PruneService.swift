import LinkgateCore
import Logging
import OAuth1
import ServiceLifecycle

/// Deletes expired sessions, codes, tokens and OAuth 1.0 nonces every minute,
/// so the database does not grow without bound.
struct PruneService: Service {
    let store: any ServerStore
    var interval: Duration = .seconds(60)
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
            let oauth1 = try await store.pruneOAuth1(now: at, nonceWindow: RequestVerifier.timestampWindow)
            if sessions + grants + oauth1 > 0 {
                logger.info("pruned expired rows", metadata: [
                    "sessions": "\(sessions)", "oauth2_codes_and_tokens": "\(grants)", "oauth1_tokens_and_nonces": "\(oauth1)",
                ])
            }
        } catch {
            logger.warning("pruning failed; will retry", metadata: ["error": "\(String(describing: type(of: error)))"])
        }
    }
}
