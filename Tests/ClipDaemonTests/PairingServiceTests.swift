import ClipCrypto
@testable import ClipDaemon
@testable import ClipWire
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Testing

/// The pairing service on a hand-driven loop, with a real peers.toml in a temporary
/// directory: the window's one code, what spoils, ends and expires it, and saving pairs.
@Suite("Pairing service: one code, one attempt, ten minutes")
struct PairingServiceTests {
    final class Host: PairingServiceHost {
        var pairingAddresses = ["127.0.0.1:7439"]
        var stored: [DeviceID] = []
        func pairStored(_ id: DeviceID) { stored.append(id) }
    }

    final class Client: PairingReplyTarget {
        var lines: [String] = []
        var codes: [String] = []
        var answers: [ControlResponse] = []
        func reply(_ response: ControlResponse, payload: [UInt8]) {
            lines += response.lines ?? []
            if let code = response.code { codes.append(code) }
        }
        func finish(_ response: ControlResponse, payload: [UInt8]) { answers.append(response) }
    }

    let loop = EmbeddedEventLoop()
    let host = Host()
    let directory = NSTemporaryDirectory() + "clipd-pairing-\(getpid())-\(UUID().uuidString)"
    let peers: PeerStore
    let service: PairingService

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        peers = try PeerStore(path: directory + "/peers.toml")
        service = PairingService(loop: loop, logger: Logger(label: "test"), peers: peers, host: host)
    }

    func pair(_ name: String) -> PairedPeer {
        PairedPeer(identity: DeviceIdentity(staticPublicKey: X25519PrivateKey.generate().publicKey, name: name), psk: SecureRandom.bytes(32))
    }

    @Test func theWindowGivesOneCodeWhichTheFirstAttemptBurnsAndAPairIsSaved() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let client = Client()
        try service.open(for: client, lifetimeMilliseconds: nil)
        #expect(client.codes.count == 1 && client.lines == ["127.0.0.1:7439"])
        #expect(throws: DaemonError.self) { try service.open(for: Client(), lifetimeMilliseconds: nil) }
        guard case .code(let code) = service.takeCode(from: "10.0.0.2") else { Issue.record("no code"); return }
        #expect(code.description == client.codes[0])
        #expect(client.lines.last?.contains("taken by a connection from 10.0.0.2") == true)

        let bob = pair("bob")
        #expect(service.succeeded(bob))
        #expect(service.window == nil && host.stored == [bob.identity.deviceID])
        #expect(client.answers.count == 1 && client.answers[0].ok && client.answers[0].lines == ["paired with bob (device \(bob.identity.deviceID.short))"])
        let saved = try PeerStore(path: directory + "/peers.toml")
        #expect(saved.peer(id: bob.identity.deviceID)?.psk == bob.psk)
        #expect(saved.peer(id: bob.identity.deviceID)?.addresses == [], "the listener's peer dials it")
    }

    @Test func aSecondAttemptSpoilsTheWindowAndTellsTheClient() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let client = Client()
        try service.open(for: client, lifetimeMilliseconds: nil)
        _ = service.takeCode(from: "10.0.0.2")
        guard case .taken = service.takeCode(from: "10.0.0.66") else { Issue.record("a second attempt got the code"); return }
        #expect(service.window == nil)
        #expect(client.answers.first?.error?.contains("two connections tried the code (the second from 10.0.0.66)") == true)
        guard case .none = service.takeCode(from: "10.0.0.2") else { Issue.record("the window stayed open"); return }
    }

    @Test func theWindowExpiresAndSaysAfterHowLong() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let client = Client()
        try service.open(for: client, lifetimeMilliseconds: 30_000)
        loop.advanceTime(by: .seconds(29))
        #expect(client.answers.isEmpty)
        loop.advanceTime(by: .seconds(1))
        #expect(client.answers.first?.error == "pairing failed: the code expired after 30 seconds; run `clipd pair` again")
        #expect(service.window == nil)
        // Never longer than ten minutes, whatever is asked.
        try service.open(for: Client(), lifetimeMilliseconds: Int.max)
        loop.advanceTime(by: .minutes(10))
        #expect(service.window == nil)
    }

    @Test func anAttemptThatTookTheCodeAndVanishedEndsTheWindowAndAnUntakenOneDoesNot() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let client = Client()
        try service.open(for: client, lifetimeMilliseconds: nil)
        service.abandoned(by: "10.0.0.9")
        #expect(service.window != nil, "nobody took the code yet")
        _ = service.takeCode(from: "10.0.0.9")
        service.abandoned(by: "10.0.0.9")
        #expect(service.window == nil)
        #expect(client.answers.first?.error?.contains("someone tried your code from 10.0.0.9 and did not finish") == true)
    }

    @Test func failureAndTheClientLeavingCloseTheWindowAndNothingIsSaved() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let client = Client()
        try service.open(for: client, lifetimeMilliseconds: nil)
        _ = service.takeCode(from: "10.0.0.2")
        service.failed(.codeMismatch)
        #expect(client.answers.first?.error == PairingError.codeMismatch.description && service.window == nil)

        let leaving = Client()
        try service.open(for: leaving, lifetimeMilliseconds: nil)
        service.clientClosed(Client())
        #expect(service.window != nil, "another client's going changes nothing")
        service.clientClosed(leaving)
        #expect(service.window == nil && peers.peers.isEmpty && host.stored.isEmpty)
    }

    @Test func aJoinerSavesTheAddressItReachedFirstAndNobodyCanPairWithADaemonNobodyReaches() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let alice = pair("alice")
        let client = Client()
        #expect(service.joined(alice, at: .network("192.0.2.1:7439"), reply: client))
        #expect(service.joined(alice, at: .hostChannel, reply: Client()))
        #expect(peers.peer(id: alice.identity.deviceID)?.addresses == [.hostChannel, .network("192.0.2.1:7439")])
        #expect(try String(contentsOfFile: directory + "/peers.toml", encoding: .utf8).contains("addresses = [\"virtio\", \"192.0.2.1:7439\"]"),
                "peers.toml keeps its spelling")
        host.pairingAddresses = []
        #expect(throws: DaemonError.self) { try service.open(for: Client(), lifetimeMilliseconds: nil) }
    }
}
