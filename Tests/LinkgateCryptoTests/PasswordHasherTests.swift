import Testing
@testable import LinkgateCrypto

@Suite("scrypt password hashing")
struct PasswordHasherTests {
    let cheap = PasswordHasher(logN: 4, r: 8, p: 1)

    @Test("RFC 7914 §12 test vectors")
    func rfcVectors() throws {
        let v1 = try PasswordHasher.scrypt([], salt: [], logN: 4, r: 1, p: 1, length: 64)
        #expect(Hex.encode(v1) == "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906")
        let v2 = try PasswordHasher.scrypt(Array("password".utf8), salt: Array("NaCl".utf8), logN: 10, r: 8, p: 16, length: 64)
        #expect(Hex.encode(v2) == "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640")
    }

    @Test("hash then verify; a wrong password fails; salts differ")
    func roundTrip() throws {
        let hash = try cheap.hash("correct horse")
        #expect(hash.hasPrefix("$scrypt$ln=4,r=8,p=1$"))
        #expect(PasswordHasher.verify("correct horse", against: hash))
        #expect(!PasswordHasher.verify("correct horse ", against: hash))
        #expect(!PasswordHasher.verify("", against: hash))
        #expect(try cheap.hash("correct horse") != hash)
    }

    @Test("the standard cost is N=2^15, r=8, p=1 and verifies")
    func standardCost() throws {
        let hash = try PasswordHasher.standard.hash("pässwörd ✓")
        #expect(hash.hasPrefix("$scrypt$ln=15,r=8,p=1$"))
        #expect(PasswordHasher.verify("pässwörd ✓", against: hash))
    }

    @Test("malformed or hostile stored hashes never match", arguments: [
        "", "plain", "$scrypt$$$", "$scrypt$ln=4,r=8,p=1$!!$AAAA", "$scrypt$ln=40,r=8,p=1$AAAA$AAAA",
        "$scrypt$ln=4,r=8$AAAA$AAAA", "$bcrypt$ln=4,r=8,p=1$AAAA$AAAA", "$scrypt$ln=4,r=8,p=1$AAAA$",
    ])
    func malformedStored(stored: String) {
        #expect(!PasswordHasher.verify("x", against: stored))
    }
}
