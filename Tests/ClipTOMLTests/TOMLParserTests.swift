import ClipTestSupport
import ClipTOML
import Testing

/// The parser on what TOML 1.0 allows and what it does not; every refusal is one line with
/// a position. The differential test covers the same ground at random against tomllib.
@Suite("TOML parser")
struct TOMLParserTests {
    @Test func everyKindOfValueAsTheSpecificationWritesIt() throws {
        let table = try TOMLParser.parse(#"""
            # comment
            bare_key-1 = "basic \"q\" \\ \t \u00e9 \U0001F600"
            "quoted key" = 'C:\path\no escapes'
            '' = "empty key"
            site."google.com" = true
            a . b . c = 1
            multi = """
            Roses are red
            Violets are blue"""
            trimmed = """\
                   The quick \
                   fox."""
            quotes = """Here are two quotation marks: "". Simple enough.""""
            literal = '''
            I [dw]on't need \d{2} apples''''
            ints = [+99, 42, 0, -17, 1_000, 5_349_221, 0xDEADBEEF, 0xdead_beef, 0o755, 0b1101_0110, -9223372036854775808]
            floats = [+1.0, 3.1415, -0.01, 5e+22, 1e06, -2E-2, 6.626e-34, 224_617.445_991_228, -0.0, +0.0]
            specials = [inf, +inf, -inf, nan]
            bools = [true, false]
            dates = [1979-05-27T07:32:00Z, 1979-05-27T00:32:00-07:00, 1979-05-27T00:32:00.999999+05:30,
                     1979-05-27 07:32:00Z, 1979-05-27T07:32:00, 1979-05-27, 07:32:00, 00:32:00.5]
            nested = [ [ 1, 2 ], ["a", 'b'], [ { x = 1 }, [] ], ]
            inline = { first = "Tom", last.name = "Preston-Werner", point = { x = 1 } }

            [table]   # a header
            key = "value"
            [ dog . "tater.man" ]
            type.name = "pug"
            [x.y.z.w]
            [x]
            [[products]]
            name = "Hammer"
            [[products]]
            [[products]]
            name = "Nail"
            [products.size]
            inch = 1
            """#)
        #expect(table["bare_key-1"]?.string == "basic \"q\" \\ \t \u{e9} \u{1F600}")
        #expect(table["quoted key"]?.string == #"C:\path\no escapes"#)
        #expect(table[""]?.string == "empty key")
        #expect(table["site"]?.table?["google.com"]?.bool == true)
        #expect(table["a"]?.table?["b"]?.table?["c"]?.int == 1)
        #expect(table["multi"]?.string == "Roses are red\nViolets are blue")
        #expect(table["trimmed"]?.string == "The quick fox.")
        #expect(table["quotes"]?.string == #"Here are two quotation marks: "". Simple enough.""#)
        #expect(table["literal"]?.string == #"I [dw]on't need \d{2} apples'"#)
        #expect(table["ints"]?.array?.compactMap(\.int) == [99, 42, 0, -17, 1000, 5_349_221, 0xDEADBEEF, 0xDEADBEEF, 0o755, 0b1101_0110, Int.min])
        #expect(table["floats"]?.array?.compactMap(\.double) == [1.0, 3.1415, -0.01, 5e22, 1e6, -2e-2, 6.626e-34, 224_617.445_991_228, -0.0, 0.0])
        let specials = table["specials"]?.array?.compactMap(\.double) ?? []
        #expect(specials.count == 4 && specials[0] == .infinity && specials[1] == .infinity && specials[2] == -.infinity && specials[3].isNaN)
        #expect(table["bools"]?.array?.compactMap(\.bool) == [true, false])
        guard case .dateTime(let first)? = table["dates"]?.array?.first else { Issue.record("no dates"); return }
        #expect(first == TOMLDateTime(date: .init(year: 1979, month: 5, day: 27), time: .init(hour: 7, minute: 32, second: 0, fraction: ""), offsetMinutes: 0))
        let dates = table["dates"]?.array ?? []
        #expect(dates.count == 8)
        if case .dateTime(let withOffset) = dates[2] { #expect(withOffset.offsetMinutes == 330 && withOffset.time?.fraction == "999999") }
        if case .dateTime(let local) = dates[6] { #expect(local.date == nil && local.offsetMinutes == nil && local.time?.hour == 7) }
        #expect(table["nested"]?.array?.count == 3)
        #expect(table["inline"]?.table?["last"]?.table?["name"]?.string == "Preston-Werner")
        #expect(table["dog"]?.table?["tater.man"]?.table?["type"]?.table?["name"]?.string == "pug")
        #expect(table["x"]?.table?["y"]?.table?["z"]?.table?["w"]?.table == TOMLTable())
        let products = table["products"]?.array ?? []
        #expect(products.count == 3)
        #expect(products.last?.table?["size"]?.table?["inch"]?.int == 1)
        #expect(products[1].table == TOMLTable())
        #expect(table.keys.prefix(4) == ["bare_key-1", "quoted key", "", "site"])
    }

    @Test func lineEndsMayBeCRLFAndAByteOrderMarkIsSkipped() throws {
        let table = try TOMLParser.parse("\u{FEFF}a = 1\r\n[t]\r\nb = \"\"\"x\r\ny\"\"\"\r\n")
        #expect(table["a"]?.int == 1)
        #expect(table["t"]?.table?["b"]?.string == "x\r\ny")
    }

    @Test func theInputsThatAbortedTOMLKitAreRefusedInOneLine() {
        for text in [#"a = ["""x"""", [}]"#, "a = ['''x'''', [}]", #"a = 1979-05-27T"07:32:00Z"#] {
            #expect(throws: TOMLError.self, "\(text)") { try TOMLParser.parse(text) }
        }
        #expect(problem(#"a = ["""x"""", [}]"#) == #"expected a value, found '}' at line 1, column 17"#)
        #expect(problem(#"a = 1979-05-27T"07:32:00Z"#) == #"expected a digit in a date or time, found '"' at line 1, column 16"#)
    }

    @Test func whatTOMLForbidsIsRefusedSayingWhatAndWhere() {
        let cases: [(String, String)] = [
            ("a = 1\na = 2", "a is defined twice at line 2, column 1"),
            ("[t]\n[t]", "table [t] is defined twice at line 2"),
            ("[t]\nx=1\n[t.x]", "t.x already holds a value"),
            ("a.b = 1\n[a]", "table [a] was already made by dotted keys"),
            ("[fruit]\napple.color = 1\n[fruit.apple]", "table [fruit.apple] was already made by dotted keys"),
            ("[a.b.c]\nz = 9\n[a]\nb.c.t = 1", "b.c is a table defined elsewhere"),
            ("a = {x = 1}\na.y = 2", "a is an inline table, which cannot be added to"),
            ("a = {x = 1}\n[a.b]", "a is an inline table"),
            ("a = []\n[[a]]", "[[a]]: a already holds a value"),
            ("[[a]]\n[a]", "[a] is already an array of tables"),
            ("[a]\n[[a]]", "[[a]]: a is already a table"),
            ("a = { x = 1, x = 2 }", "x is defined twice"),
            ("a = { x = 1, }", "an inline table may not end with a comma"),
            ("a = { x = 1\n}", "expected , or } in an inline table"),
            ("a = \"abc", "a string is not closed before the end of the file"),
            ("a = \"ab\nc\"", "a string is not closed before the end of the line"),
            ("a = \"\\q\"", "unknown escape \\q"),
            ("a = \"\\uD800\"", "\\uD800 is not a Unicode scalar value"),
            ("a = \"\"\"\"\"\"\"\"\"", "6 quotes in a row"),
            ("a = 'x\u{1}'", "control character 0x01 in a string"),
            ("# bell \u{7}\n", "control character 0x07 in a comment"),
            ("a = 1\rb = 2", "a carriage return must be followed by a line feed"),
            ("a = 01", "a decimal number may not start with 0"),
            ("a = 1__0", "\"1__0\" is not a number"),
            ("a = 0x", "\"0x\" is not a valid base-16 integer"),
            ("a = +0x10", "\"+0x10\" is not a number"),
            ("a = 9223372036854775808", "does not fit in a 64-bit integer"),
            ("a = 1.", "a decimal point must have digits on both sides"),
            ("a = .5", "\".5\" is not a number"),
            ("a = 1e", "an exponent must be digits"),
            ("a = 1979-02-29", "day 29 does not exist in month 2 of 1979"),
            ("a = 1979-13-01", "month 13 does not exist"),
            ("a = 24:00:00", "the time 24:0:0 is out of range"),
            ("a = 07:32", "expected ':' in a time (TOML 1.0 times are HH:MM:SS)"),
            ("a = 1979-05-27T07:32:00+25:00", "the offset 25:0 is out of range"),
            ("a =\n1", "expected a value, found the end of the line"),
            ("a = # none", "expected a value, found a comment"),
            ("a = tru", "\"tru\" is not a number, date or value TOML knows"),
            ("a = true false", "expected the end of the line after a value, found 'f'"),
            ("= 1", "expected a key, found '='"),
            ("a b = 1", "expected = after the key a, found 'b'"),
            ("\"\"\"k\"\"\" = 1", "a key cannot be a multi-line string"),
            ("[a\n", "expected ] to close the table name"),
            ("[[a]\n", "expected ]] to close the table name"),
            ("[a] b = 1", "expected the end of the line after the table name [a], found 'b'"),
            ("[]", "expected a key, found ']'"),
            ("a = [1 2]", "expected , or ] after an element of an array, found '2'"),
            ("a = [,]", "expected a value, found ','"),
            ("\"\\u001B[31m\" = 1\n\"\\u001B[31m\" = 2", #""\u001B[31m" is defined twice"#),
            ("a = " + String(repeating: "[", count: 200), "nested more than 100 deep"),
            (String(repeating: "a.", count: 70) + "a = 1", "a key of more than 64 dotted parts"),
        ]
        for (text, expected) in cases {
            let message = problem(text)
            #expect(message?.contains(expected) == true, "\(text.debugDescription): \(message ?? "accepted")")
            #expect(message?.contains("at line ") == true && message?.contains("\n") == false)
        }
    }

    @Test func tablesMadeOnTheWayAndByDottedKeysFollowTheSpecification() throws {
        let table = try TOMLParser.parse("""
            [fruit]
            apple.color = "red"
            apple.taste.sweet = true
            [fruit.apple.texture]
            smooth = true
            [x.y.z]
            [x]
            y.w = 1
            [a.b.c]
            [a.b]
            d = 1
            """)
        #expect(table["fruit"]?.table?["apple"]?.table?["texture"]?.table?["smooth"]?.bool == true)
        #expect(table["x"]?.table?["y"]?.table?["w"]?.int == 1)
        #expect(table["a"]?.table?["b"]?.table?["d"]?.int == 1)
    }

    @Test func writtenStringsReadBackAsTheyWereAndArePrintable() throws {
        var random = TestRandom(state: 0x5eed)
        let alphabet: [Unicode.Scalar] = ["a", " ", "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{1b}", "\u{7f}", "\u{85}", "\u{200e}", "\u{2028}", "é", "😀", "'", "#"]
        for _ in 0..<2_000 {
            var text = String.UnicodeScalarView()
            for _ in 0..<random.below(12) { text.append(alphabet[random.below(alphabet.count)]) }
            let value = String(text)
            let written = TOMLText.basicString(value)
            #expect(!written.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f || $0.properties.generalCategory == .format }, "\(written.debugDescription)")
            #expect(try TOMLParser.parse("k = \(written)")["k"]?.string == value, "\(value.debugDescription)")
        }
    }

    private func problem(_ text: String) -> String? {
        do {
            _ = try TOMLParser.parse(text)
            return nil
        } catch {
            return error.description
        }
    }
}
