import Foundation
import LinkgateCore
import Testing

@Suite("JSON output: compact, keys sorted, strings escaped (every JSON response body)")
struct JSONValueTests {
    @Test("scalars, nesting and key order")
    func shapes() {
        let value = JSONValue.object([
            "b": .array([.number(1), .number(-2.5), .number(1e20), .bool(true), .bool(false), .null]),
            "a": .object(["z": .string(""), "y": .array([])]), "expires_in": .number(3600),
        ])
        #expect(value.serialized() == #"{"a":{"y":[],"z":""},"b":[1,-2.5,1e+20,true,false,null],"expires_in":3600}"#)
        #expect(value.serializedBytes() == Array(value.serialized().utf8))
    }

    @Test("escapes: quotes, backslashes, controls, markup, U+2028/9; other text as UTF-8", arguments: [
        ("plain-token_1.~", #""plain-token_1.~""#),
        ("say \"hi\"\\", #""say \"hi\"\\""#),
        ("a\nb\rc\td\u{01}\u{1F}", #""a\nb\rc\td\u0001\u001f""#),
        ("<script>&", #""\u003cscript\u003e\u0026""#),
        ("\u{2028}\u{2029}", #""\u2028\u2029""#),
        ("é中😀 and <", "\"é中😀 and \\u003c\""),
        ("é中😀", "\"é中😀\""),
    ])
    func escapes(text: String, expected: String) throws {
        #expect(JSONValue.string(text).serialized() == expected)
        // Whatever is written parses back to the same string.
        let parsed = try JSONSerialization.jsonObject(with: Data(JSONValue.array([.string(text)]).serializedBytes())) as? [String]
        #expect(parsed == [text])
    }
}
