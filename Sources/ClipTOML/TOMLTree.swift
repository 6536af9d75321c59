/// The document being built, and TOML's rules for what may be defined where: no key twice,
/// no table twice, dotted keys cannot reach into a table a header defined, headers cannot
/// redefine a table dotted keys made, and inline tables and arrays are closed once written.
///
/// Reference type, owned by one parse.
final class TOMLTree {
    /// How a table came to be, which decides what may still add to it.
    enum Origin: Equatable {
        /// Made on the way to a header's table (`a` for `[a.b]`); a header may still define it.
        case onTheWay
        /// Defined by its own `[header]` or `[[header]]`.
        case header
        /// Made by dotted keys in the section numbered so; only that section adds to it.
        case dotted(section: Int)
    }

    final class Node {
        var origin: Origin
        var keys: [String] = []
        var entries: [String: Entry] = [:]

        init(_ origin: Origin) { self.origin = origin }

        func set(_ key: String, _ entry: Entry) {
            if entries.updateValue(entry, forKey: key) == nil { keys.append(key) }
        }

        /// The finished table. Depth is bounded by the parser's limit on key parts.
        func table() -> TOMLTable {
            var table = TOMLTable()
            for key in keys {
                switch entries[key] {
                case .value(let value): table.set(key, value)
                case .table(let node): table.set(key, .table(node.table()))
                case .tableArray(let list): table.set(key, .array(list.nodes.map { .table($0.table()) }))
                case nil: break
                }
            }
            return table
        }
    }

    /// A value (closed: strings, numbers, arrays, inline tables), an open table, or an array
    /// of tables made by `[[header]]`s (open: the last one takes keys).
    enum Entry {
        case value(TOMLValue)
        case table(Node)
        case tableArray(NodeList)
    }

    /// The tables of an array of tables, appended to in place (each `[[header]]` costs the
    /// same however many came before).
    final class NodeList {
        var nodes: [Node]
        init(_ first: Node) { nodes = [first] }
    }

    let root = Node(.header)

    /// `[path]`: the table the following keys go into.
    func defineTable(_ path: [String]) throws(TOMLTree.Problem) -> Node {
        let parent = try walkToParent(of: path)
        let key = path[path.count - 1]
        switch parent.entries[key] {
        case nil:
            let node = Node(.header)
            parent.set(key, .table(node))
            return node
        case .table(let node) where node.origin == .onTheWay:
            node.origin = .header
            return node
        case .table(let node):
            throw Problem(node.origin == .header ? "table [\(describe(path))] is defined twice"
                          : "table [\(describe(path))] was already made by dotted keys (\(describe(path)).KEY = …)")
        case .tableArray: throw Problem("[\(describe(path))] is already an array of tables ([[\(describe(path))]])")
        case .value: throw Problem("\(describe(path)) already holds a value, so [\(describe(path))] cannot define it")
        }
    }

    /// `[[path]]`: a new table at the end of the array, which the following keys go into.
    func appendTable(_ path: [String]) throws(TOMLTree.Problem) -> Node {
        let parent = try walkToParent(of: path)
        let key = path[path.count - 1]
        let node = Node(.header)
        switch parent.entries[key] {
        case nil: parent.set(key, .tableArray(NodeList(node)))
        case .tableArray(let list): list.nodes.append(node)
        case .table: throw Problem("[[\(describe(path))]]: \(describe(path)) is already a table, not an array of tables")
        case .value: throw Problem("[[\(describe(path))]]: \(describe(path)) already holds a value (an array written inline cannot be added to)")
        }
        return node
    }

    /// `path = value` in the section numbered `section` whose table is `table`.
    func assign(_ path: [String], _ value: TOMLValue, in table: Node, section: Int) throws(TOMLTree.Problem) {
        var node = table
        for (depth, key) in path.dropLast().enumerated() {
            let here = describe(path.prefix(depth + 1))
            switch node.entries[key] {
            case nil:
                let child = Node(.dotted(section: section))
                node.set(key, .table(child))
                node = child
            case .table(let child):
                switch child.origin {
                case .dotted(let made) where made == section: break
                case .onTheWay: child.origin = .dotted(section: section)
                default: throw Problem("\(here) is a table defined elsewhere; dotted keys cannot add to it")
                }
                node = child
            case .tableArray: throw Problem("\(here) is an array of tables; dotted keys cannot add to it")
            case .value(let existing):
                throw Problem(existing.table != nil ? "\(here) is an inline table, which cannot be added to" : "\(here) already holds a value")
            }
        }
        let key = path[path.count - 1]
        guard node.entries[key] == nil else { throw Problem("\(describe(path)) is defined twice") }
        node.set(key, .value(value))
    }

    /// The table that holds `path`'s last part, making tables on the way as needed.
    private func walkToParent(of path: [String]) throws(TOMLTree.Problem) -> Node {
        var node = root
        for (depth, key) in path.dropLast().enumerated() {
            switch node.entries[key] {
            case nil:
                let child = Node(.onTheWay)
                node.set(key, .table(child))
                node = child
            case .table(let child): node = child
            case .tableArray(let list): node = list.nodes[list.nodes.count - 1]
            case .value(let existing):
                let here = describe(path.prefix(depth + 1))
                throw Problem(existing.table != nil ? "\(here) is an inline table, which cannot be added to" : "\(here) already holds a value, not a table")
            }
        }
        return node
    }

    /// A rule broken; the parser adds the position.
    struct Problem: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }
}
