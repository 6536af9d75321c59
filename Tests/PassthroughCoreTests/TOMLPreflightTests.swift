import Testing
import TOMLPreflight

/// The check in front of TOMLKit refuses what made toml++ abort and nothing a clipd or
/// passvm file is written with.
@Suite("TOML pre-check")
struct TOMLPreflightTests {
    @Test func filesAsTheREADMEWritesThemPass() {
        let text = """
            # a comment with [} and {] in it
            name = "win11 [}"   # brackets in a string are text
            literal = '{]'
            multi = \"\"\"
            [} inside a multi-line string
            \"\"\"
            listen = ["0.0.0.0:7373", 'x']
            nested = [ [1, 2], [] ]
            spread = [
              "a",  # why
              "b",
            ]
            pairs = [
              [1, 2],
              ["x", 'y'],
            ]
            point = { x = 1, "y" = 2 }
            empty = {}
            signed = [-1, +2, inf, nan, true, 1979-05-27]

            [gpu]
            address = "0000:01:00.0"

            [[ peer ]]
            name = "laptop"

            [[disk]]
            path = "/dev/sda"
            """
        #expect(TOMLPreflight.problem(in: text) == nil)
    }

    @Test func whatMadeTheParserAbortIsRefusedInOneLine() {
        let cases: [(String, String)] = [
            ("a = 1\n[\u{1A}]\n", "line 2 holds control character 0x1A"),
            ("[\n", "line 1: a table name"),
            ("[}\n", "line 1: a table name"),
            ("[[[9]]]\n", "line 1: a table name"),
            ("[\u{301}x]\n", "line 1: a table name"),
            ("name = 1\nbackend =[}auto\"\n", "line 2: an array's [ must be followed by a value or ]"),
            ("p = {]\n", "line 1: an inline table's { must be followed by a key or }"),
            ("p = {\n x = 1 }\n", "line 1: an inline table's {"),
            ("s = [\"clibd\",}\n", "line 1: a , in an array must be followed by a value or ]"),
            ("p = { x = 1, }\n", "line 1: a , in an inline table must be followed by a key"),
            ("a = ,\n", "line 1: a value must follow = on the same line"),
            ("a =\n1\n", "line 1: a value must follow = on the same line"),
        ]
        for (text, start) in cases {
            let problem = TOMLPreflight.problem(in: text)
            #expect(problem?.hasPrefix(start) == true, "\(text.debugDescription): \(problem ?? "accepted")")
        }
    }
}
