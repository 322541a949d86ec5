import ArgumentParser


struct Linkgate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "linkgate",
        abstract: "Linkgate: the remote side of an application link (OAuth 2.0 and OAuth 1.0a provider).",
        subcommands: [Serve.self, Fixture.self, Migrate.self, Backup.self, UserCommand.self, ClientCommand.self, ConsumerCommand.self, KeysCommand.self],
        defaultSubcommand: Serve.self)
}

/// A flag's value, else the `LINKGATE_*` environment variable, else the default.
func setting(_ flag: String?, env name: String, default value: String) -> String {
    flag ?? environment(name) ?? value
}

/// A whole-number setting, chosen as `setting` does; a value that is not a number in `range`
/// stops the start with "invalid <what> '<text>'<hint>".
func integerSetting(_ flag: Int?, env name: String, default value: Int, in range: ClosedRange<Int>,
                    _ what: String, hint: String = "") throws -> Int {
    let text = setting(flag.map(String.init), env: name, default: String(value))
    guard let number = Int(text), range.contains(number) else { throw ValidationError("invalid \(what) '\(text)'\(hint)") }
    return number
}

func environment(_ name: String) -> String? {
    guard let value = ProcessInfoEnvironment.get(name), !value.isEmpty else { return nil }
    return value
}

extension String {
    /// Nil for the empty string.
    var nonEmpty: String? { isEmpty ? nil : self }
}
