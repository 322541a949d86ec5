import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Atlassian's consumer-info document (`<consumer><key/><name/><publicKey/><description/><callback/></consumer>`),
/// served at `/plugins/servlet/oauth/consumer-info`.
public struct ConsumerInfo: Sendable, Equatable {
    public var key: String
    public var name: String
    public var publicKey: String
    public var description: String?
    public var callback: String?

    public init(key: String, name: String, publicKey: String, description: String?, callback: String?) {
        self.key = key
        self.name = name
        self.publicKey = publicKey
        self.description = description
        self.callback = callback
    }

    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// Parses the XML; external entities are never resolved.
    public static func parse(_ data: [UInt8]) throws -> ConsumerInfo {
        let parser = XMLParser(data: Data(data))
        parser.shouldResolveExternalEntities = false
        let collector = Collector()
        parser.delegate = collector
        guard parser.parse(), collector.root == "consumer" else {
            throw ParseError(description: collector.root == nil || collector.root == "consumer"
                             ? "the consumer-info document is not well-formed XML" : "the document is not a <consumer> element")
        }
        func text(_ name: String) -> String? {
            collector.values[name].map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        guard let key = text("key"), let name = text("name"), let publicKey = text("publicKey") else {
            throw ParseError(description: "the consumer-info document lacks <key>, <name> or <publicKey>")
        }
        return ConsumerInfo(key: key, name: name, publicKey: publicKey, description: text("description"), callback: text("callback"))
    }

    /// The document, with every value escaped.
    public var xml: String {
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<consumer>"
        out += "<key>\(Self.escape(key))</key><name>\(Self.escape(name))</name><publicKey>\(Self.escape(publicKey))</publicKey>"
        if let description { out += "<description>\(Self.escape(description))</description>" }
        if let callback { out += "<callback>\(Self.escape(callback))</callback>" }
        return out + "</consumer>\n"
    }

    public static func escape(_ text: String) -> String {
        var out = ""
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                // Characters XML 1.0 cannot carry are dropped.
                if c.value >= 0x20 || c == "\n" || c == "\t" || c == "\r" { out.unicodeScalars.append(c) }
            }
        }
        return out
    }

    private final class Collector: NSObject, XMLParserDelegate {
        var root: String?
        var depth = 0
        var current: String?
        var values: [String: String] = [:]

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            depth += 1
            if depth == 1 { root = name } else if depth == 2 { current = name; values[name, default: ""] = "" }
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if depth == 2 { current = nil }
            depth -= 1
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if depth == 2, let current { values[current, default: ""] += string }
        }

        func parser(_ parser: XMLParser, foundCDATA block: Data) {
            if depth == 2, let current { values[current, default: ""] += String(decoding: block, as: UTF8.self) }
        }
    }
}
