import ClipTOML
@testable import ClipDaemon
import ClipTestSupport
import Foundation
import Logging
import Testing

@Suite("Configuration: the default file and the run options")
struct ConfigurationTemplateTests {
    @Test func theDefaultFileParsesToTheDefaults() throws {
        let parsed = try DaemonConfiguration.parse(ConfigurationTemplate.text, path: "default")
        #expect(parsed == DaemonConfiguration(), "a commented default file must change nothing")
    }

    @Test func theDefaultFileDocumentsEveryKey() {
        for key in DaemonConfiguration.knownKeys {
            #expect(ConfigurationTemplate.text.contains("\n# \(key) = "), "the default file does not show \(key)")
        }
    }

    @Test func everyValueTheDefaultFileShowsIsValidWhenUncommented() throws {
        // Uncommenting a line must give a valid file: the examples are real values.
        for line in ConfigurationTemplate.text.split(separator: "\n") where line.hasPrefix("# ") && line.contains(" = ") {
            let uncommented = String(line.dropFirst(2))
            #expect(throws: Never.self, "'\(uncommented)' does not parse") { try DaemonConfiguration.parse(uncommented + "\n", path: "line") }
        }
    }

    /// Every option of `clipd run` has a config key: the option's name with `_` for `-`,
    /// except those about where the file is (`--home`, `--config`) and `-v`, which is
    /// `log_level = "debug"`.
    @Test func everyRunOptionHasAConfigKey() throws {
        let result = DaemonHarness().run(DaemonHarness.binary, ["run", "--experimental-dump-help"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let arguments = try #require((json["command"] as? [String: Any])?["arguments"] as? [[String: Any]])
        let names = arguments.compactMap { ($0["names"] as? [[String: Any]])?.first { $0["kind"] as? String == "long" }?["name"] as? String }
        #expect(names.count >= 12)
        let aside: Set = ["home", "config", "verbose", "help", "version"]
        let options = Set(DaemonConfiguration.keys.compactMap(\.option))
        #expect(Set(names).subtracting(aside) == options, "clipd run's options and the keys' options differ")
    }

    /// Each key's example, in a file or given as its option, reads into a configuration
    /// that differs from the defaults on that key alone: every entry of the table parses,
    /// compares and copies its own setting.
    @Test func everyKeyReadsItsExampleFromTheFileAndTheCommandLine() throws {
        for key in DaemonConfiguration.keys {
            let file = try DaemonConfiguration.parse("\(key.name) = \(key.example)\n", path: "c")
            #expect(DaemonConfiguration.differingKeys(file, DaemonConfiguration()).map(\.name) == [key.name], "\(key.name) = \(key.example)")
            var copied = DaemonConfiguration()
            key.copy(file, &copied)
            #expect(copied == file, "\(key.name) does not copy its value")
            guard let option = key.option else { continue }
            let value = try #require(try TOMLDocument.parse("v = \(key.example)\n", what: "example")["v"])
            let arguments = value.array?.compactMap(\.string) ?? [value.string ?? value.int.map(String.init) ?? ""]
            var configuration = DaemonConfiguration()
            try RunOverrides(options: [option: arguments]).apply(to: &configuration)
            #expect(configuration == file, "--\(option) \(arguments) reads otherwise than the file's \(key.name)")
        }
    }

    @Test func aBadValueNamesTheFileAndTheKey() {
        for key in DaemonConfiguration.keys {
            #expect(throws: DaemonError.self, "\(key.name) took a table") { try DaemonConfiguration.parse("\(key.name) = { a = 1 }\n", path: "/x/c.toml") }
            do {
                _ = try DaemonConfiguration.parse("\(key.name) = { a = 1 }\n", path: "/x/c.toml")
            } catch {
                #expect("\(error)".hasPrefix("invalid config /x/c.toml: \(key.name)"), "\(error)")
            }
        }
        #expect(throws: DaemonError.self) { try RunOverrides(options: ["sync-files": ["true"]]) }
    }

    @Test func theLogLevelSwitchKeepsEveryLevel() {
        let before = DaemonLogging.level
        defer { DaemonLogging.level = before }
        for level in Logger.Level.allCases {
            DaemonLogging.level = level
            #expect(DaemonLogging.level == level)
        }
    }

    @Test func logLevelIsAKeyAndABadOneIsNamed() throws {
        #expect(try DaemonConfiguration.parse("log_level = \"debug\"\n", path: "c").logLevel == .debug)
        #expect(throws: DaemonError.self) { try DaemonConfiguration.parse("log_level = \"loud\"\n", path: "c") }
    }

    @Test func theCommandLineWinsAtStartAndAtReload() throws {
        let directory = NSTemporaryDirectory() + "clipd-source-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/clipd.toml"
        try "max_size = \"1MiB\"\nlisten = [\"127.0.0.1:7001\"]\n".write(toFile: path, atomically: true, encoding: .utf8)
        let overrides = try RunOverrides(options: ["listen": ["127.0.0.1:7002"]])
        let source = ConfigurationSource(path: path, required: true, overrides: overrides, guestPort: nil)
        let first = try source.load()
        #expect(first.maximumItemSize == 1 << 20 && first.listen == ["127.0.0.1:7002"])
        try "max_size = \"2MiB\"\nlisten = [\"127.0.0.1:7003\"]\n".write(toFile: path, atomically: true, encoding: .utf8)
        let second = try source.load()
        #expect(second.maximumItemSize == 2 << 20 && second.listen == ["127.0.0.1:7002"])
    }

    @Test func theDefaultFileIsWrittenOnlyWhereNoneIsAndOnlyForTheDefaultPath() throws {
        let directory = NSTemporaryDirectory() + "clipd-template-\(getpid())-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/clipd.toml"
        #expect(try ConfigurationSource(path: path, required: true, guestPort: nil).writeDefaultFileIfMissing() == nil, "--config FILE is never written")
        #expect(try ConfigurationSource(path: path, required: false, guestPort: nil).writeDefaultFileIfMissing() == path)
        #expect(try PrivateFiles.read(path) == Array(ConfigurationTemplate.text.utf8))
        try "name = \"mine\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try ConfigurationSource(path: path, required: false, guestPort: nil).writeDefaultFileIfMissing() == nil)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "name = \"mine\"\n", "an existing file is left alone")
    }
}
