import ArgumentParser


struct Linkgate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "linkgate",
        abstract: "Linkgate: the remote side of an application link (OAuth 2.0 and OAuth 1.0a provider).",
        subcommands: [Serve.self, UserCommand.self],
        defaultSubcommand: Serve.self)
}

/// A flag's value, else the `LINKGATE_*` environment variable, else the default.
func setting(_ flag: String?, env name: String, default value: String) -> String {
    flag ?? environment(name) ?? value
}

func environment(_ name: String) -> String? {
    guard let value = ProcessInfoEnvironment.get(name), !value.isEmpty else { return nil }
    return value
}
