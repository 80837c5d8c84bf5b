// The Swift half of the Swift-vs-Rust benchmark: benches/src/bin/swift-vs-rust.rs's workload
// through the public BlazeDB API (BlazeDataRecord in, UniFFI, the Rust core, records out).
// Keep the two in step: same records, batch size, fetched ids and queries. Prints one JSON
// object per operation: {"op", "items", "median_s", "runs"}.
import BlazeDB
import Foundation

struct Args {
    var records = 20_000
    var batch = 1_000
    var gets = 2_000
    var runs = 5
    /// `--only OP`: run just that operation (for profiling one path); the others are skipped.
    var only: String?

    init() {
        var it = CommandLine.arguments.dropFirst().makeIterator()
        while let flag = it.next() {
            if flag == "--only" {
                guard let op = it.next(), Self.ops.contains(op) else { fail("--only needs one of \(Self.ops)", 2) }
                only = op
                continue
            }
            guard let raw = it.next(), let n = Int(raw), n > 0 else { fail("\(flag) needs a positive number", 2) }
            switch flag {
            case "--records": records = n
            case "--batch": batch = n
            case "--gets": gets = n
            case "--runs": runs = n
            default: fail("unknown flag \(flag)", 2)
            }
        }
    }

    static let ops = ["insert_many", "get", "get_many", "query_top100", "query_all_matches"]

    func wants(_ op: String) -> Bool { only == nil || only == op }
}

func fail(_ message: String, _ code: Int32) -> Never {
    FileHandle.standardError.write(Data("SwiftVsRust: \(message)\n".utf8))
    exit(code)
}

let password = "BenchPass123!"

/// Record `i`; swift-vs-rust.rs's `record(i)` builds the same fields.
func record(_ i: Int) -> BlazeDataRecord {
    BlazeDataRecord([
        "title": .string("Item \(i)"),
        "body": .string("Record number \(i) of the Swift-vs-Rust benchmark, with some text to carry."),
        "priority": .int(i % 5),
        "score": .double(Double(i) * 0.5),
        "done": .bool(i % 2 == 0),
        "created": .date(Date(timeIntervalSince1970: TimeInterval(1_700_000_000 + i))),
        "tags": .array([.string("t\(i % 7)"), .string("bench")]),
    ])
}

func seconds(_ block: () throws -> Void) rethrows -> Double {
    let t = DispatchTime.now().uptimeNanoseconds
    try block()
    return Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
}

func report(_ op: String, _ items: Int, _ samples: [Double]) {
    let median = samples.sorted()[samples.count / 2]
    print("{\"op\":\"\(op)\",\"items\":\(items),\"median_s\":\(median),\"runs\":\(samples.count)}")
}

func load(_ url: URL, _ args: Args) throws -> (BlazeDBClient, [UUID], Double) {
    let db = try BlazeDBClient(name: "bench", fileURL: url, password: password)
    let records = (0..<args.records).map(record)
    var ids: [UUID] = []
    ids.reserveCapacity(args.records)
    let secs = try seconds {
        for start in stride(from: 0, to: records.count, by: args.batch) {
            ids += try db.insertMany(Array(records[start..<min(start + args.batch, records.count)]))
        }
    }
    return (db, ids, secs)
}

func run(_ args: Args) throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blazedb-swift-vs-rust-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }

    var inserts: [Double] = []
    for r in 0..<(args.wants("insert_many") ? args.runs : 0) {
        let (db, _, secs) = try load(dir.appendingPathComponent("load\(r).blazedb"), args)
        try db.close()
        inserts.append(secs)
    }
    if args.wants("insert_many") { report("insert_many", args.records, inserts) }

    let (db, ids, _) = try load(dir.appendingPathComponent("read.blazedb"), args)
    let step = max(args.records / args.gets, 1)
    let picked = Array(stride(from: 0, to: ids.count, by: step).map { ids[$0] }.prefix(args.gets))
    let matches = (0..<args.records).filter { $0 % 5 == 3 }.count

    var gets: [Double] = [], batch: [Double] = [], top: [Double] = [], all: [Double] = []
    var found = 0, want = 0
    for _ in 0..<args.runs {
        if args.wants("get") {
            gets.append(try seconds { for id in picked where try db.fetch(id: id) != nil { found += 1 } })
            want += picked.count
        }
        if args.wants("get_many") {
            batch.append(try seconds { found += try db.fetchBatch(ids: picked).count })
            want += picked.count
        }
        if args.wants("query_top100") {
            top.append(try seconds {
                found += try db.query().where("priority", equals: 3).orderBy("score", descending: true).limit(100).all().count
            })
            want += min(100, matches)
        }
        if args.wants("query_all_matches") {
            all.append(try seconds { found += try db.query().where("priority", equals: 3).all().count })
            want += matches
        }
    }
    guard found == want else { fail("workload returned \(found) records, expected \(want)", 1) }
    if !gets.isEmpty { report("get", picked.count, gets) }
    if !batch.isEmpty { report("get_many", picked.count, batch) }
    if !top.isEmpty { report("query_top100", min(100, matches), top) }
    if !all.isEmpty { report("query_all_matches", matches, all) }
    try db.close()
}

do {
    try run(Args())
} catch {
    fail("\(error)", 1)
}
