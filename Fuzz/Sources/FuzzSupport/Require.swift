/// Stops the fuzz target when an invariant does not hold. Unlike `precondition`, the message
/// survives `-O`, so the crash log says which invariant broke.
public func require(_ condition: Bool, _ message: @autoclosure () -> String = "invariant violated",
                    file: StaticString = #fileID, line: UInt = #line) {
    if !condition { fatalError(message(), file: file, line: line) }
}
