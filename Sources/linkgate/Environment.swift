import Foundation

enum ProcessInfoEnvironment {
    static func get(_ name: String) -> String? { ProcessInfo.processInfo.environment[name] }
}
