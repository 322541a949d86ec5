/// Messages among the nodes that share one database (INTERFACE §11), for what each node keeps
/// in memory (lockouts). Every node, the sender included, receives every message.
public protocol ClusterBus: Sendable {
    /// Sends `message` to every node; returns once the database has accepted it.
    func publish(_ message: String) async throws
    /// Calls `handler` for every message published by any node.
    func subscribe(_ handler: @escaping @Sendable (String) -> Void)
}
