import ArgumentParser
import Foundation
import LinkgateCore
import Logging

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
