import Foundation
import LinkgateCore
import LinkgateCrypto
import StoreTestSupport
import Testing
@testable import OAuth1

/// INTERFACE §7: RSA-SHA256 and RSA-SHA512 are opt-in per consumer; any other method is
/// `signature_method_rejected` with the consumer's list in `oauth_acceptable_signature_methods`.
@Suite("Signature methods (INTERFACE §7)")
struct SignatureMethodTests {
    /// `openssl dgst -sha256|-sha512 -sign` of the RFC 5849 vector's base string with the vector's key
    /// (independent of Linkgate's own signing code).
    static let opensslSHA256 = "SVVWSxjS8jrGKzrnrlqW8AVMMELt58sIlpkNGMSf4r/sOSsw2shxoZ0RlDn7zUFjxxp5iwi0YJzwGxhWTB+Vd9V8vV8oFDE/Glh4x5uSE56+o+Ugslt4d62ceYncaO+lDLfFYeRm5EVbniB05PRNLVsKBUxXwCz4C8k9k7yyArQ2vSbYwgsb9YHs74rWu9f50riQR7e+GOoRmt7GEiYOLF57Ek02DXHpCcHbkl9pCGJQoLMiJzR4hL5iKHlsTVMzkXT3MG/rsmtlPomd5XNiPS6y7+2OUzZf0U/9nrwXU8/ax9OJjEMdMVZqtbiNjODigw2iNiMTAWQH39J580m1dQ=="
    static let opensslSHA512 = "PX/NUEdSSDBsaGSlgmWANHiSyoFU1NC3RPEduvDG0ZQJx0oZMXwVdXzzPYwg2VqE7iMxy/Yq2BBH2CoJPjic1rNZq80zyd/6URSTOBvlf9l2usQxKcV6sHzagOarIbcwhvGORikSgAuPRpnDOsXaWxXJXxvcz1F/MjzC/O0kro55843wyrbA2QuOWISdzcGclrTdQqoFW0xbmoB/fEm3pgk+5uINoCiSHr1kZp6Ze5tp7vJkMKOXr2QfOlU8Y3kgD8KebKn39tUJtuD51JuqHqso29Y4CLeTpIgDQZ2/3FGtrSDgUDaUgckJdgNb6xIlDpXE5npCkrcCAkYVvw2eSg=="

    @Test("libcrypto verifies OpenSSL-made RSA-SHA256 and RSA-SHA512 signatures of the vector's base string, each only with its digest")
    func opensslVectors() throws {
        let v = try Vector.load()
        let key = try RSAPublicKey(parsing: v.rsa_sha1.public_key_pem)
        let message = Array(v.signature_base_string.utf8)
        let sha256 = try #require(Base64URL.decode(Self.opensslSHA256)), sha512 = try #require(Base64URL.decode(Self.opensslSHA512))
        #expect(key.verify(signature: sha256, message: message, digest: .sha256))
        #expect(key.verify(signature: sha512, message: message, digest: .sha512))
        #expect(!key.verify(signature: sha256, message: message, digest: .sha512))
        #expect(!key.verify(signature: sha512, message: message, digest: .sha256))
        #expect(!key.verify(signature: sha512, message: message, digest: .sha1))
        #expect(!key.verify(signature: sha512, message: message + [0x20], digest: .sha512))
    }

    @Test("the list: non-empty, exact names, no duplicates")
    func listRules() throws {
        #expect(try SignatureMethod.list(["RSA-SHA512", "RSA-SHA1"]) == [.rsaSHA512, .rsaSHA1])
        for bad in [[], ["rsa-sha1"], ["HMAC-SHA1"], ["PLAINTEXT"], ["RSA-SHA1", "RSA-SHA1"], ["RSA-SHA1 "]] {
            #expect(throws: ValidationError.self, "\(bad)") { try SignatureMethod.list(bad) }
        }
        #expect(SignatureMethod.fromStorage(SignatureMethod.storageText([.rsaSHA256, .rsaSHA512])) == [.rsaSHA256, .rsaSHA512])
        #expect(SignatureMethod.fromStorage(nil) == [.rsaSHA1])
    }

    @Test("a default consumer accepts RSA-SHA1 only; others are refused with its list", arguments: TestBackend.all)
    func defaultConsumer(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        #expect(try await h.store.consumer(key: "jira:1")?.signatureMethods == [.rsaSHA1])
        _ = try await h.verifier.verify(try h.signer.request())
        for method in ["RSA-SHA256", "RSA-SHA512", "HMAC-SHA1", "PLAINTEXT", "rsa-sha1"] {
            do {
                _ = try await h.verifier.verify(try h.signer.request(signatureMethod: method))
                Issue.record("\(method) accepted")
            } catch let problem as OAuth1Problem {
                #expect(problem.problem == .signatureMethodRejected, "\(method)")
                #expect(problem.parameters.map(\.name) == ["oauth_acceptable_signature_methods"])
                #expect(problem.parameters.first?.value == "RSA-SHA1")
            }
        }
    }

    @Test("an opted-in consumer verifies RSA-SHA256 and RSA-SHA512; the nonce is spent only when accepted", arguments: TestBackend.all)
    func optedIn(backend: TestBackend) async throws {
        let h = try await Harness(backend)
        _ = try await h.registry.update(key: "jira:1", change: ConsumerChange(signatureMethods: [.rsaSHA256, .rsaSHA512]))
        #expect(try await h.store.consumer(key: "jira:1")?.signatureMethods == [.rsaSHA256, .rsaSHA512])
        _ = try await h.verifier.verify(try h.signer.request(signatureMethod: "RSA-SHA256"))
        _ = try await h.verifier.verify(try h.signer.request(signatureMethod: "RSA-SHA512"))
        // RSA-SHA1 was dropped from the list: refused, listing the two, and its nonce is not burned.
        do {
            _ = try await h.verifier.verify(try h.signer.request(nonce: "kept"))
            Issue.record("RSA-SHA1 accepted")
        } catch let problem as OAuth1Problem {
            #expect(problem.problem == .signatureMethodRejected)
            #expect(problem.parameters.first?.value == "RSA-SHA256&RSA-SHA512")
        }
        _ = try await h.verifier.verify(try h.signer.request(nonce: "kept", signatureMethod: "RSA-SHA512"))
        // Claiming one method while signing with another fails the signature.
        let mislabeled = try h.signer.request(signatureMethod: "RSA-SHA512") { pairs in
            if let i = pairs.firstIndex(where: { $0.0 == "oauth_signature_method" }) { pairs[i].1 = "RSA-SHA256" }
        }
        await expectProblem(.signatureInvalid) { _ = try await h.verifier.verify(mislabeled) }
    }
}
