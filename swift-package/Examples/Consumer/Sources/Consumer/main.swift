// The README's upstream sample, unchanged: it must compile and run against this package.
import BlazeDB
import Foundation

let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blazedb-consumer-\(UUID().uuidString)")
defer { try? FileManager.default.removeItem(at: dir) }

do {
    let db = try BlazeDBClient(name: "Tracker", fileURL: dir.appendingPathComponent("tracker.blazedb"), password: "DemoPass123!")
    let id = try db.insert(BlazeDataRecord(["title": .string("Crash on launch"), "priority": .int(1)]))
    let ids = try db.insertMany([BlazeDataRecord(["title": .string("Slow sync")])])
    try db.updateFields(id: id, fields: ["status": .string("fixed")])
    try db.transaction {
        try db.softDelete(id: ids[0])
    }
    guard let bug = try db.fetch(id: id), bug["status"]?.stringValue == "fixed", try db.count() == 1 else {
        print("consumer: FAILED")
        exit(1)
    }
    try db.close()
    print("consumer: ok (\(bug["title"]?.stringValue ?? "?"), count 1)")
} catch {
    print("consumer: FAILED: \(error)")
    exit(1)
}
