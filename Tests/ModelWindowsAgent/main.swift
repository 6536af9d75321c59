// A test peer that behaves like the Windows SPICE agent (vdagent-win 0.10.0, as the virtio-win
// guest tools ship it) on a real virtio-serial port, written from the rules in issue 21 and
// protocol/vdagent.md, not from the agent's code, and sharing no code with clipd:
//
// - its first act is a write (its capabilities, request = 1), and it exits whenever a write
//   finds the host end disconnected (poll reports POLLHUP on the port), as the Windows
//   agent stops on any failed write;
// - client-port chunks are appended to a message in progress; a server-port chunk starts a
//   message of its own and leaves a client-port message in progress as it is;
// - it exits on a chunk over 2048 bytes ("chunk is too large"), a port other than 1 or 2, or
//   a protocol other than 1;
// - it has the clipboard only (no selection prefix), no grab serials, and GUEST_LINEEND_CRLF:
//   it takes UTF-8 text whose line ends are all CR LF, PNG and BMP, and nothing else;
// - a paste of the host's data waits at most 3 s for the answer.
//
// The test drives it through a FIFO: `copy TYPE FILE` (the guest copies), `paste TYPE OUT`
// (an application pastes: OUT gets the data, or OUT.err the reason), `request TYPE -` (a
// request whose answer nobody waits for), `stall SECONDS -` (a busy guest: the port is not
// read meanwhile), `echo on -` (for the benchmark: every text the host grabs is asked for at
// once, "held" and its first bytes are printed, and it is copied back prefixed "echo ").
// TYPE is text, png or bmp. Every line it logs goes to standard output;
// "VIOLATION" marks a host that broke a rule.
//
// Usage: clipd-model-agent PORT_DEVICE CONTROL_FIFO

#if canImport(Glibc)
import Glibc
#endif

/// One line on standard output, unbuffered.
func say(_ line: String) {
    let bytes = Array("model-agent: \(line)\n".utf8)
    _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
}

func quit(_ reason: String) -> Never {
    say("exiting: \(reason)")
    exit(1)
}

func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

func le32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
}

func put32(_ value: UInt32, into bytes: inout [UInt8]) {
    for shift in [0, 8, 16, 24] { bytes.append(UInt8((value >> UInt32(shift)) & 0xff)) }
}

enum Kind: UInt32 {
    case clipboard = 4, capabilities = 6, grab = 7, request = 8, release = 9, clientDisconnected = 13, maxClipboard = 14
}

let dataTypes: [String: UInt32] = ["text": 1, "png": 2, "bmp": 3]
/// CLIPBOARD_BY_DEMAND (5), GUEST_LINEEND_CRLF (9), MAX_CLIPBOARD (10).
let ownCapabilities: UInt32 = 1 << 5 | 1 << 9 | 1 << 10

let arguments = CommandLine.arguments
guard arguments.count == 3 else { quit("usage: clipd-model-agent PORT_DEVICE CONTROL_FIFO") }
let port = open(arguments[1], O_RDWR | O_NONBLOCK)
guard port >= 0 else { quit("cannot open \(arguments[1])") }
let control = open(arguments[2], O_RDWR | O_NONBLOCK)
guard control >= 0 else { quit("cannot open \(arguments[2])") }

// MARK: Writing

/// Writes a whole message in chunks of at most 2048 bytes; exits when the host end is gone.
@MainActor
func send(_ kind: Kind, _ body: [UInt8]) {
    var message: [UInt8] = []
    put32(1, into: &message)
    put32(kind.rawValue, into: &message)
    message += [UInt8](repeating: 0, count: 8)
    put32(UInt32(body.count), into: &message)
    message += body
    var out: [UInt8] = []
    var offset = 0
    while offset < message.count {
        let size = min(2048, message.count - offset)
        put32(1, into: &out)
        put32(UInt32(size), into: &out)
        out += message[offset..<offset + size]
        offset += size
    }
    offset = 0
    while offset < out.count {
        var check = pollfd(fd: port, events: Int16(POLLOUT), revents: 0)
        _ = poll(&check, 1, 1000)
        if check.revents & Int16(POLLHUP) != 0 { quit("a write found the host end disconnected") }
        let written = out[offset...].withUnsafeBytes { write(port, $0.baseAddress, $0.count) }
        if written > 0 {
            offset += written
        } else if errno != EAGAIN {
            quit("write failed: \(String(cString: strerror(errno)))")
        }
    }
}

// MARK: State

var clientCapabilities: UInt32 = 0
var clientMaximum = Int.max
/// The host's grab: the types it offered that this agent takes.
var hostTypes: [UInt32]?
/// The guest's own clipboard, when a guest application copied last.
var guestClipboard: (type: UInt32, data: [UInt8])?
/// A paste waiting for the host's answer.
var pendingPaste: (type: UInt32, output: String, deadline: Double)?
/// The port is not read before this time (`stall`).
var stalledUntil = 0.0
/// `echo on`: host text is fetched at its grab and copied back.
var echoing = false
/// An echo's request for the host's text is under way.
var echoPending = false

@MainActor
func clientTakesClipboard() -> Bool { clientCapabilities & (1 << 5) != 0 }

func writeFile(_ path: String, _ bytes: [UInt8]) {
    let fd = open(path + ".tmp", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { return say("cannot write \(path)") }
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
    rename(path + ".tmp", path)
}

func readFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count <= 0 { return bytes }
        bytes += buffer[0..<count]
    }
}

@MainActor
func finishPaste(_ bytes: [UInt8]?, error: String? = nil) {
    guard let paste = pendingPaste else { return }
    pendingPaste = nil
    if let bytes {
        writeFile(paste.output, bytes)
        say("pasted \(bytes.count) bytes")
    } else {
        writeFile(paste.output + ".err", Array((error ?? "nothing").utf8))
        say("paste failed: \(error ?? "nothing")")
    }
}

/// Whether `text` is UTF-8 with every line end CR LF.
func isWindowsText(_ text: [UInt8]) -> Bool {
    guard String(validating: text, as: UTF8.self) != nil else { return false }
    for (index, byte) in text.enumerated() where byte == 0x0a {
        if index == 0 || text[index - 1] != 0x0d { return false }
    }
    return true
}

// MARK: Messages from the host

@MainActor
func dispatch(_ kind: UInt32, _ body: [UInt8]) {
    switch Kind(rawValue: kind) {
    case .capabilities:
        guard body.count >= 8 else { quit("short capabilities") }
        clientCapabilities = le32(body, 4)
        if le32(body, 0) == 1 { send(.capabilities, { var b: [UInt8] = []; put32(0, into: &b); put32(ownCapabilities, into: &b); return b }()) }
        say("client capabilities \(String(clientCapabilities, radix: 16))")
    case .clientDisconnected:
        clientCapabilities = 0
        hostTypes = nil
        echoPending = false
        say("client disconnected")
    case .maxClipboard:
        guard body.count == 4 else { quit("bad MAX_CLIPBOARD") }
        clientMaximum = Int(Int32(bitPattern: le32(body, 0)))
    case .grab:
        let offered = stride(from: 0, to: body.count - body.count % 4, by: 4).map { le32(body, $0) }
        let taken = offered.filter { [1, 2, 3].contains($0) }
        if taken.isEmpty {
            say("VIOLATION: a grab with no type Windows takes (\(offered)); the clipboard keeps its old content")
        } else {
            hostTypes = taken
            guestClipboard = nil
            say("host grabbed \(taken)")
            if echoing && taken.contains(1) && pendingPaste == nil {
                echoPending = true
                send(.request, { var b: [UInt8] = []; put32(1, into: &b); return b }())
            }
        }
    case .request:
        guard body.count == 4 else { quit("bad CLIPBOARD_REQUEST") }
        let type = le32(body, 0)
        var reply: [UInt8] = []
        if let own = guestClipboard, own.type == type {
            put32(type, into: &reply)
            reply += own.data
        } else {
            put32(0, into: &reply)
        }
        send(.clipboard, reply)
    case .clipboard:
        guard body.count >= 4 else { quit("short CLIPBOARD") }
        let type = le32(body, 0)
        let data = Array(body[4...])
        if echoPending {
            echoPending = false
            guard type == 1 else { return say("echo: answered with type \(type)") }
            say("held \(String(decoding: data.prefix(24), as: UTF8.self))")
            guestClipboard = (1, Array("echo ".utf8) + data)
            hostTypes = nil
            send(.grab, { var b: [UInt8] = []; put32(1, into: &b); return b }())
            return
        }
        guard let paste = pendingPaste else { return say("an answer no paste waits for (type \(type))") }
        if type != paste.type {
            finishPaste(nil, error: "answered with type \(type)")
        } else if type == 1 && !isWindowsText(data) {
            say("VIOLATION: text that is not UTF-8 with CR LF line ends")
            finishPaste(nil, error: "text without CR LF")
        } else {
            finishPaste(data)
        }
    case .release:
        hostTypes = nil
        say("host released")
    case nil:
        break
    }
}

// MARK: Reading chunks

var pending: [UInt8] = []
/// The client-port message in progress: its header and body so far.
var inProgress: [UInt8] = []

@MainActor
func takeChunks() {
    while pending.count >= 8 {
        let chunkPort = le32(pending, 0)
        let size = Int(le32(pending, 4))
        guard size <= 2048 else { quit("chunk is too large (\(size) bytes)") }
        guard chunkPort == 1 || chunkPort == 2 else { quit("a chunk for port \(chunkPort)") }
        guard pending.count >= 8 + size else { return }
        let payload = Array(pending[8..<8 + size])
        pending.removeFirst(8 + size)
        if chunkPort == 2 {
            guard payload.count >= 20, le32(payload, 0) == 1, payload.count == 20 + Int(le32(payload, 16)) else {
                quit("a server-port chunk that is not one message")
            }
            dispatch(le32(payload, 4), Array(payload[20...]))
            continue
        }
        inProgress += payload
        while inProgress.count >= 20 {
            guard le32(inProgress, 0) == 1 else { quit("invalid protocol \(le32(inProgress, 0))") }
            let total = 20 + Int(le32(inProgress, 16))
            guard inProgress.count >= total else { break }
            let message = Array(inProgress[0..<total])
            inProgress.removeFirst(total)
            dispatch(le32(message, 4), Array(message[20...]))
        }
    }
}

// MARK: The test's commands

var commandLine: [UInt8] = []

@MainActor
func command(_ line: String) {
    let words = line.split(separator: " ").map(String.init)
    if words.count == 3, words[0] == "echo" {
        echoing = words[1] == "on"
        return say("echo \(echoing ? "on" : "off")")
    }
    if words.count == 3, words[0] == "stall", let seconds = Double(words[1]) {
        stalledUntil = now() + seconds
        return say("not reading the port for \(words[1]) s")
    }
    guard words.count == 3, let type = dataTypes[words[1]] else { return say("bad command '\(line)'") }
    switch words[0] {
    case "request":
        send(.request, { var b: [UInt8] = []; put32(type, into: &b); return b }())
        say("requested \(words[1])")
    case "copy":
        guard let data = readFile(words[2]) else { return say("cannot read \(words[2])") }
        guestClipboard = (type, data)
        hostTypes = nil
        if clientTakesClipboard() && data.count <= clientMaximum { send(.grab, { var b: [UInt8] = []; put32(type, into: &b); return b }()) }
        say("copied \(data.count) bytes")
    case "paste":
        if let own = guestClipboard {
            pendingPaste = (type, words[2], now() + 3)
            finishPaste(own.type == type ? own.data : nil, error: "the guest's clipboard has no such type")
        } else if let types = hostTypes, types.contains(type) {
            pendingPaste = (type, words[2], now() + 3)
            send(.request, { var b: [UInt8] = []; put32(type, into: &b); return b }())
        } else {
            pendingPaste = (type, words[2], now())
            finishPaste(nil, error: "the clipboard has no \(words[1])")
        }
    default:
        say("bad command '\(line)'")
    }
}

// MARK: The loop

say("started")
send(.capabilities, { var b: [UInt8] = []; put32(1, into: &b); put32(ownCapabilities, into: &b); return b }())
var buffer = [UInt8](repeating: 0, count: 65536)
while true {
    let reading = now() >= stalledUntil
    // A negative descriptor is left out by poll: a stalled agent does not look at its port.
    var fds = [pollfd(fd: reading ? port : -1, events: Int16(POLLIN), revents: 0), pollfd(fd: control, events: Int16(POLLIN), revents: 0)]
    var timeout: Int32 = reading ? 1000 : 100
    if let paste = pendingPaste { timeout = Int32(max(0, min(1000, (paste.deadline - now()) * 1000))) }
    _ = poll(&fds, 2, timeout)
    if reading && fds[0].revents & Int16(POLLIN) != 0 {
        let count = read(port, &buffer, buffer.count)
        if count > 0 {
            pending += buffer[0..<count]
            takeChunks()
        }
    } else if reading && fds[0].revents & Int16(POLLHUP) != 0 {
        usleep(100_000)  // no host: nothing to read, and no write is tried until there is one
    }
    if fds[1].revents & Int16(POLLIN) != 0 {
        let count = read(control, &buffer, buffer.count)
        if count > 0 { commandLine += buffer[0..<count] }
        while let newline = commandLine.firstIndex(of: 0x0a) {
            command(String(decoding: commandLine[..<newline], as: UTF8.self))
            commandLine.removeFirst(newline + 1)
        }
    }
    if let paste = pendingPaste, now() >= paste.deadline { finishPaste(nil, error: "timed out after 3 s") }
}
