import ClipTestSupport
import ClipTOML
import Foundation
import Testing

/// Thousands of generated documents, and mutations of them, parsed by ClipTOML and by
/// Python's tomllib (`scripts/toml-oracle.py`): both must accept the same documents and
/// read the same values from them. The generator leans on what parsers get wrong: key
/// collisions between headers, dotted keys and inline tables, every string form and
/// number notation, and edits that break them.
@Suite("TOML parser against tomllib")
struct TOMLDifferentialTests {
    @Test func agreesWithTomllibOnGeneratedAndMutatedDocuments() throws {
        var random = TestRandom(state: 0x70_6d_6c_2d_64_69_66)
        var documents: [String] = []
        for _ in 0..<1500 {
            var generator = TOMLDocumentGenerator(random: &random)
            let document = generator.document()
            documents.append(document)
            for _ in 0..<2 { documents.append(TOMLDocumentGenerator.mutate(document, random: &random)) }
        }
        let oracle = try runOracle(documents)
        try #require(oracle.count == documents.count)
        var accepted = 0, refused = 0, mismatches: [String] = []
        for (document, expected) in zip(documents, oracle) {
            let ours = Result { () throws(TOMLError) in try TOMLParser.parse(document) }
            switch (ours, expected["ok"]) {
            case (.success(let table), let value?):
                accepted += 1
                if !Self.same(.table(table), value) { mismatches.append("values differ for \(document.debugDescription)") }
            case (.failure(let error), nil):
                refused += 1
                _ = error
            case (.success, nil):
                mismatches.append("ClipTOML accepted what tomllib refused (\(expected["error"] ?? "")): \(document.debugDescription)")
            case (.failure(let error), _?):
                // TOML lets a parser refuse integers beyond 64 bits; tomllib takes any size.
                if !error.message.contains("does not fit in a 64-bit integer") {
                    mismatches.append("ClipTOML refused what tomllib accepted (\(error)): \(document.debugDescription)")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) disagreements, first: \(mismatches.prefix(5).joined(separator: "\n"))")
        // Both kinds must be well represented, or the test proves little.
        #expect(accepted > 1000 && refused > 1000, "accepted \(accepted), refused \(refused)")
    }

    private func runOracle(_ documents: [String]) throws -> [[String: Any]] {
        let input = try JSONSerialization.data(withJSONObject: documents)
        let script = VectorFile.packageRoot.appendingPathComponent("scripts/toml-oracle.py").path
        let result = DaemonHarness().run("python3", [script], stdin: Array(input), timeout: 120)
        try #require(result.status == 0, "toml-oracle.py: \(result.stderr)")
        let parsed = try JSONSerialization.jsonObject(with: Data(result.stdoutBytes))
        return try #require(parsed as? [[String: Any]])
    }

    /// Whether `value` is what the oracle wrote (see toml-oracle.py for its tags).
    static func same(_ value: TOMLValue, _ tagged: Any) -> Bool {
        guard let tagged = tagged as? [String: Any], tagged.count == 1, let (kind, content) = tagged.first else { return false }
        switch (value, kind) {
        case (.table(let table), "t"):
            guard let entries = content as? [String: Any], entries.count == table.keys.count else { return false }
            return table.keys.allSatisfy { key in entries[key].map { same(table[key]!, $0) } ?? false }
        case (.array(let elements), "a"):
            guard let list = content as? [Any], list.count == elements.count else { return false }
            return zip(elements, list).allSatisfy { same($0, $1) }
        case (.string(let text), "s"): return content as? String == text
        case (.integer(let number), "i"): return content as? String == String(number)
        case (.boolean(let flag), "b"): return content as? Bool == flag
        case (.float(let number), "f"):
            guard let text = content as? String, let other = Double(text) else { return false }
            return number.isNaN ? other.isNaN : number == other && number.sign == other.sign
        case (.dateTime(let moment), "d"): return content as? String == normalForm(moment)
        default: return false
        }
    }

    /// The oracle's normal form: microseconds at most, none when zero, `Z` for a zero offset.
    static func normalForm(_ moment: TOMLDateTime) -> String {
        var text = ""
        if let date = moment.date { text += String(format: "%04d-%02d-%02d", date.year, date.month, date.day) }
        if let time = moment.time {
            if !text.isEmpty { text += "T" }
            text += String(format: "%02d:%02d:%02d", time.hour, time.minute, time.second)
            let micros = String((time.fraction + "000000").prefix(6))
            if micros != "000000" { text += "." + micros }
        }
        if let offset = moment.offsetMinutes {
            text += offset == 0 ? "Z" : String(format: "%@%02d:%02d", offset < 0 ? "-" : "+", abs(offset) / 60, abs(offset) % 60)
        }
        return text
    }
}
