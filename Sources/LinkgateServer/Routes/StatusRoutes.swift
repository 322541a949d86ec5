import Hummingbird

/// `GET /status` → `{"state":"RUNNING"}`, as Atlassian Data Center answers.
struct StatusRoutes {
    func add(to router: Router<LinkgateContext>) {
        router.get("/status") { _, _ in jsonResponse(.object(["state": .string("RUNNING")])) }
    }
}
