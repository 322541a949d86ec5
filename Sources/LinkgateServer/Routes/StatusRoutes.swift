import Hummingbird

/// `GET /status` → `{"state":"RUNNING"}`, as Atlassian Data Center answers; `503
/// {"state":"ERROR"}` while the store cannot answer (INTERFACE §11, §15).
struct StatusRoutes {
    let storeHealth: (@Sendable () async -> Bool)?

    func add(to router: Router<LinkgateContext>) {
        router.get("/status") { _, _ in
            if let storeHealth, await !storeHealth() {
                return jsonResponse(.object(["state": .string("ERROR")]), status: .serviceUnavailable)
            }
            return jsonResponse(.object(["state": .string("RUNNING")]))
        }
    }
}
