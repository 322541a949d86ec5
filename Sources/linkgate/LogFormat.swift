import ArgumentParser
import Foundation
import LinkgateCore
import Logging

/// `--log-format` and `--log-level`, shared by `serve` and `fixture`.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log lines as text or json: one JSON object per line on stderr (LINKGATE_LOG_FORMAT; default text).")
    var logFormat: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (LINKGATE_LOG_LEVEL; default info, fixture: notice).")
    var logLevel: String?

    /// Sets the log format up (once, before any logger exists) and returns the command's logger.
    func logger(label: String, defaultLevel: Logger.Level) throws -> Logger {
        try LogFormat.bootstrap(logFormat)
        var logger = Logger(label: label)
        let level = setting(logLevel, env: "LINKGATE_LOG_LEVEL", default: defaultLevel.rawValue)
        guard let parsed = Logger.Level(rawValue: level) else { throw ValidationError("unknown log level '\(level)'") }
        logger.logLevel = parsed
        return logger
    }
}

/// `--log-format text|json` (INTERFACE §15, `LINKGATE_LOG_FORMAT`): swift-log's text lines, or
/// one JSON object per line on stderr with `time`, `level`, `message`, `label` and the
/// metadata (the request fields: method, path, status, ms). Set once, before any logger exists.
enum LogFormat: String, CaseIterable {
    case text, json

    static func bootstrap(_ flag: String?) throws {
        let text = setting(flag, env: "LINKGATE_LOG_FORMAT", default: "text")
        guard let format = LogFormat(rawValue: text) else { throw ValidationError("unknown log format '\(text)': give text or json") }
        if format == .json { LoggingSystem.bootstrap { label in JSONLogHandler(label: label) } }
    }
}

/// One JSON object per log line, written whole to stderr.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var object: [String: JSONValue] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            object[key] = .string(Self.text(value))
        }
        object["time"] = .string(Self.timestamp())
        object["level"] = .string(event.level.rawValue)
        object["message"] = .string(event.message.description)
        object["label"] = .string(label)
        FileHandle.standardError.write(Data((JSONValue.object(object).serialized() + "\n").utf8))
    }

    static func text(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let string): string
        case .stringConvertible(let convertible): convertible.description
        default: value.description
        }
    }

    static func timestamp() -> String {
        Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
