// REST JSON bodies: the pure part, LinkgateCore/JSONValue (the server's JSONBody only adds
// key checks on top of `JSONValue.parse`).
// Invariants: what parses serializes to JSON that parses to the same value, and serializing
// that again gives the same text; the output never contains a raw `<`, `>` or `&`.
import FuzzSupport
import LinkgateCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONBody(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard let value = JSONValue.parse(bytes) else { return 0 }
    let text = value.serialized()
    guard let again = JSONValue.parse(Array(text.utf8)) else { fatalError("serialized JSON does not parse: \(text.prefix(200))") }
    require(again == value, "JSON round trip changed the value: \(text.prefix(200))")
    require(again.serialized() == text, "serialization is not stable")
    require(!text.utf8.contains { $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: "&") },
                 "markup characters left unescaped")
    // What JSONBody does next: an object's keys are checked, its members read by key.
    if let members = value.objectMembers {
        for (key, member) in members { require(members[key] == member) }
    }
    return 0
}
