import ArgumentParser
import LinkgateCore
import LinkgateServer

/// `linkgate keys rotate` (INTERFACE §14): a new id_token signing key on `--database`.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Manage the OpenID Connect id_token signing keys on --database.",
        subcommands: [Rotate.self])

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a new RSA-2048 id_token signing key; prints its kid (RFC 7638 thumbprint).",
            discussion: """
                Running servers sign id_tokens with it within 60 s; the JWKS keeps publishing the older keys until \
                every id_token they signed has expired. The consumer-info key (application links) does not change.
                """)

        @OptionGroup var options: AdminOptions

        func run() async throws {
            let rotated = try await withAdmin(options) { actions, store in
                try await actions.rotateSigningKey(on: store)
            }
            if options.json {
                printJSON(.object(["kid": .string(rotated.kid), "createdAt": .number(Double(rotated.createdAt))]))
            } else {
                print(rotated.kid)
            }
        }
    }
}
