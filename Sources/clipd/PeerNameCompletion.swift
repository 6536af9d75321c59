import ClipDaemon
import Foundation

/// Shell completion of a paired peer's name: the running daemon is asked (`clipd peers`),
/// with the `--home` typed so far on the line or CLIPD_HOME. No daemon, no names.
enum PeerNameCompletion {
    @Sendable static func names(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
        var home: String?
        if let flag = words.firstIndex(of: "--home"), flag + 1 < words.count { home = words[flag + 1] }
        let paths = DaemonPaths(home: home, environment: ProcessInfo.processInfo.environment)
        guard let client = try? ControlClient(socketPath: paths.controlSocket), (try? client.send(ControlRequest(op: .peers))) != nil,
              let (response, _) = try? client.receive(), response.ok
        else { return [] }
        let names = (response.lines ?? []).compactMap { $0.split(separator: "\t").first.map(String.init) }
        return names.filter { $0.hasPrefix(prefix) }
    }
}
