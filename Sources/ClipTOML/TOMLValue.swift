/// One value of a TOML document, as TOML 1.0 defines them. Inline tables and arrays of
/// tables are `.table` and `.array` of `.table`; the parser keeps no trace of how a table
/// was written.
///
/// A value type: immutable once parsed, safe to share between threads.
public indirect enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    case dateTime(TOMLDateTime)
    case array([TOMLValue])
    case table(TOMLTable)

    /// The text of a string, else nil.
    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// An integer that fits in `Int`, else nil (floats are not rounded).
    public var int: Int? {
        if case .integer(let value) = self { return Int(exactly: value) }
        return nil
    }

    /// A float, or an integer as a float, else nil.
    public var double: Double? {
        switch self {
        case .float(let value): return value
        case .integer(let value): return Double(value)
        default: return nil
        }
    }

    /// `true` or `false`, else nil.
    public var bool: Bool? {
        if case .boolean(let value) = self { return value }
        return nil
    }

    /// The elements of an array (or of an array of tables), else nil.
    public var array: [TOMLValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// A table (a `[header]`, dotted keys or an inline table), else nil.
    public var table: TOMLTable? {
        if case .table(let value) = self { return value }
        return nil
    }
}

/// A TOML table: keys in the order the document first wrote them, each with its value.
///
/// A value type: immutable once parsed, safe to share between threads.
public struct TOMLTable: Sendable, Equatable {
    /// The keys in document order.
    public private(set) var keys: [String] = []
    private var values: [String: TOMLValue] = [:]

    public init() {}

    /// The value under `key`, or nil when the table has none.
    public subscript(key: String) -> TOMLValue? {
        values[key]
    }

    /// Adds or replaces `key` (a new key goes last).
    mutating func set(_ key: String, _ value: TOMLValue) {
        if values.updateValue(value, forKey: key) == nil { keys.append(key) }
    }
}

/// A TOML date, time or date-time as written: a local date, a local time, a local
/// date-time, or a date-time with an offset from UTC. Every field has been checked
/// (months 1-12, days within their month, leap years, hours 0-23, minutes 0-59, seconds
/// 0-59: no leap seconds, as in most date libraries).
public struct TOMLDateTime: Sendable, Equatable {
    /// A calendar date (proleptic Gregorian, as RFC 3339).
    public struct Date: Sendable, Equatable {
        public var year: Int, month: Int, day: Int

        public init(year: Int, month: Int, day: Int) {
            self.year = year
            self.month = month
            self.day = day
        }
    }

    /// A time of day, to any precision the document wrote.
    public struct Time: Sendable, Equatable {
        public var hour: Int, minute: Int, second: Int
        /// The digits after the decimal point of the seconds, as written ("" for none).
        public var fraction: String

        public init(hour: Int, minute: Int, second: Int, fraction: String = "") {
            self.hour = hour
            self.minute = minute
            self.second = second
            self.fraction = fraction
        }
    }

    public var date: Date?
    public var time: Time?
    /// Minutes east of UTC (`Z` is 0); nil for local dates and times.
    public var offsetMinutes: Int?

    public init(date: Date? = nil, time: Time? = nil, offsetMinutes: Int? = nil) {
        self.date = date
        self.time = time
        self.offsetMinutes = offsetMinutes
    }
}
