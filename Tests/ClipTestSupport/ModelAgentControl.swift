import Foundation

/// Drives the Windows-like SPICE agent (Tests/ModelWindowsAgent) in a QEMU test guest
/// through the guest's shell: its service, its commands and its logs.
public struct ModelAgentControl {
    public let guest: QEMUGuest

    public init(guest: QEMUGuest) { self.guest = guest }

    /// Starts the agent under its Windows-like service and waits for its first line.
    public func start() throws {
        try guest.shell("model-agent-service >/dev/null 2>&1 &")
        let up = try guest.shell("i=0; until grep -q started /tmp/agent/agent.log 2>/dev/null; do i=$((i+1)); [ $i -gt 300 ] && break; sleep 0.1; done; cat /tmp/agent/agent.log")
        guard up.output.contains("started") else { throw HarnessError("the model agent did not start: \(up.output)") }
    }

    /// What the agent logged (every start of it, in order).
    public var agentLog: String { (try? guest.shell("cat /tmp/agent/agent.log").output) ?? "" }
    /// What its service logged: one "starting the agent" per start.
    public var serviceLog: String { (try? guest.shell("cat /tmp/agent/service.log").output) ?? "" }
    /// How many times the service started the agent.
    public var starts: Int { serviceLog.components(separatedBy: "starting the agent").count - 1 }

    /// One command line for the agent (see its usage).
    public func command(_ line: String) throws {
        try guest.shell("echo '\(line)' > /tmp/agent/ctl")
    }

    /// The guest copies `data` as `type` (text, png, bmp); the file is written in the guest
    /// first.
    public func copy(_ data: [UInt8], type: String) throws {
        let name = "/tmp/copy-\(UUID().uuidString.prefix(8))"
        try writeFile(name, data)
        try command("copy \(type) \(name)")
    }

    /// Writes `data` to `path` in the guest, in pieces the shell's line takes.
    public func writeFile(_ path: String, _ data: [UInt8]) throws {
        try guest.shell(": > \(path)")
        for start in stride(from: 0, to: data.count, by: 512) {
            let piece = data[start..<min(start + 512, data.count)]
            let octal = piece.map { "\\" + String($0, radix: 8) }.joined()
            try guest.shell("printf '\(octal)' >> \(path)")
        }
    }

    /// An application in the guest pastes `type`: the bytes it got, or the agent's reason.
    public func paste(_ type: String, timeout: Double = 10) throws -> Result<[UInt8], HarnessError> {
        let out = "/tmp/paste-\(UUID().uuidString.prefix(8))"
        try command("paste \(type) \(out)")
        let steps = Int(timeout * 10)
        let answer = try guest.shell("""
            i=0; while [ ! -e \(out) ] && [ ! -e \(out).err ] && [ $i -lt \(steps) ]; do i=$((i+1)); sleep 0.1; done
            if [ -e \(out) ]; then od -An -v -tx1 \(out) | tr -d ' \\n'; echo; else echo "error: $(cat \(out).err 2>/dev/null || echo no answer)"; fi
            """, timeout: timeout + 30)
        let line = answer.output.trimmingCharacters(in: .whitespacesAndNewlines)
        if line.hasPrefix("error: ") { return .failure(HarnessError(String(line.dropFirst(7)))) }
        var bytes: [UInt8] = []
        var index = line.startIndex
        while index < line.endIndex, let next = line.index(index, offsetBy: 2, limitedBy: line.endIndex) {
            guard let byte = UInt8(line[index..<next], radix: 16) else { return .failure(HarnessError("unreadable paste: \(line.prefix(80))")) }
            bytes.append(byte)
            index = next
        }
        return .success(bytes)
    }
}
