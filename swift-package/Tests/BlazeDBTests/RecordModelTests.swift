import Foundation
import XCTest
import BlazeDB

final class RecordModelTests: XCTestCase {
    func testAccessorsFollowUpstreamConversions() {
        let id = UUID()
        let date = Date(timeIntervalSinceReferenceDate: 123.5)
        XCTAssertEqual(BlazeDocumentField.string("a").stringValue, "a")
        XCTAssertNil(BlazeDocumentField.int(1).stringValue)
        XCTAssertEqual(BlazeDocumentField.int(7).intValue, 7)
        XCTAssertEqual(BlazeDocumentField.double(-2.9).intValue, -2)
        XCTAssertNil(BlazeDocumentField.double(.nan).intValue)
        XCTAssertNil(BlazeDocumentField.double(1e300).intValue)
        XCTAssertEqual(BlazeDocumentField.double(2.5).doubleValue, 2.5)
        XCTAssertEqual(BlazeDocumentField.int(3).doubleValue, 3.0)
        XCTAssertEqual(BlazeDocumentField.bool(true).boolValue, true)
        XCTAssertEqual(BlazeDocumentField.int(0).boolValue, false)
        XCTAssertEqual(BlazeDocumentField.int(5).boolValue, true)
        XCTAssertNil(BlazeDocumentField.string("true").boolValue)
        XCTAssertEqual(BlazeDocumentField.date(date).dateValue, date)
        XCTAssertEqual(BlazeDocumentField.double(123.5).dateValue, date)
        XCTAssertEqual(BlazeDocumentField.int(100).dateValue, Date(timeIntervalSinceReferenceDate: 100))
        XCTAssertEqual(
            BlazeDocumentField.string("2001-01-01T00:00:01.500Z").dateValue,
            Date(timeIntervalSinceReferenceDate: 1.5))
        XCTAssertEqual(BlazeDocumentField.uuid(id).uuidValue, id)
        XCTAssertEqual(BlazeDocumentField.string(id.uuidString).uuidValue, id)
        XCTAssertNil(BlazeDocumentField.string("nope").uuidValue)
        XCTAssertEqual(BlazeDocumentField.data(Data([1, 2])).dataValue, Data([1, 2]))
        XCTAssertEqual(BlazeDocumentField.array([.null]).arrayValue, [.null])
        XCTAssertEqual(BlazeDocumentField.dictionary(["k": .int(1)]).dictionaryValue, ["k": .int(1)])
        XCTAssertTrue(BlazeDocumentField.null.value is NSNull)
        XCTAssertEqual(BlazeDocumentField.string("x").value as? String, "x")
    }

    func testRecordStorageSubscriptAndHashable() {
        var r = BlazeDataRecord(["title": .string("Bug")])
        XCTAssertEqual(r["title"], .string("Bug"))
        r["priority"] = .int(2)
        XCTAssertEqual(r.storage.count, 2)
        r["title"] = nil
        XCTAssertEqual(r.storage.keys.sorted(), ["priority"])
        let set: Set<BlazeDataRecord> = [r, r, BlazeDataRecord([:])]
        XCTAssertEqual(set.count, 2)
    }

    func testCodableShapeMatchesUpstream() throws {
        let r = BlazeDataRecord(["n": .int(1), "s": .string("x"), "b": .bool(true), "z": .null])
        let json = try JSONEncoder().encode(r)
        let obj = try JSONSerialization.jsonObject(with: json) as? [String: Any]
        XCTAssertNotNil(obj?["storage"] as? [String: Any], "upstream's Codable shape is {\"storage\": {...}}")
        let back = try JSONDecoder().decode(BlazeDataRecord.self, from: json)
        XCTAssertEqual(back, r)
        // Upstream's decoding order: a numeric array becomes a vector, a mixed one an array.
        let v = try JSONDecoder().decode(BlazeDocumentField.self, from: Data("[1, 2.5]".utf8))
        XCTAssertEqual(v, .vector([1, 2.5]))
        let a = try JSONDecoder().decode(BlazeDocumentField.self, from: Data("[1, \"a\"]".utf8))
        XCTAssertEqual(a, .array([.int(1), .string("a")]))
        let d = try JSONDecoder().decode(BlazeDocumentField.self, from: Data("{\"k\": 2.5}".utf8))
        XCTAssertEqual(d, .dictionary(["k": .double(2.5)]))
    }

    func testDateConversionIsExact() {
        // Whole seconds, around both epochs, and the distant dates.
        let samples: [Date] = [
            Date(timeIntervalSinceReferenceDate: 0),
            Date(timeIntervalSince1970: 0),
            Date(timeIntervalSinceReferenceDate: -1),
            Date(timeIntervalSinceReferenceDate: 1e9 + 0.25),
            Date(timeIntervalSinceReferenceDate: -978_307_200.5),
            .distantPast, .distantFuture,
        ]
        for d in samples {
            let parts = BlazeDateConversion.unixParts(of: d)!
            XCTAssertLessThan(parts.nanoseconds, 1_000_000_000)
            XCTAssertEqual(BlazeDateConversion.date(unixSeconds: parts.seconds, nanoseconds: parts.nanoseconds), d, "\(d)")
        }
        XCTAssertEqual(BlazeDateConversion.unixParts(of: Date(timeIntervalSince1970: 0))!.seconds, 0)
        XCTAssertEqual(BlazeDateConversion.unixParts(of: Date(timeIntervalSinceReferenceDate: 0))!.seconds, 978_307_200)
        let neg = BlazeDateConversion.unixParts(of: Date(timeIntervalSince1970: -0.25))!
        XCTAssertEqual(neg.seconds, -1)
        XCTAssertEqual(neg.nanoseconds, 750_000_000)
        // Random dates between 1900 and 2200 come back as the identical Double.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let t = Double.random(in: -3.2e9...6.3e9, using: &rng)
            guard abs(t) > 1e7 else { continue }
            let d = Date(timeIntervalSinceReferenceDate: t)
            let p = BlazeDateConversion.unixParts(of: d)!
            XCTAssertEqual(BlazeDateConversion.date(unixSeconds: p.seconds, nanoseconds: p.nanoseconds).timeIntervalSinceReferenceDate, t)
        }
        XCTAssertNil(BlazeDateConversion.unixParts(of: Date(timeIntervalSinceReferenceDate: .infinity)))
    }

    func testPasswordPolicy() {
        XCTAssertNil(PasswordStrengthValidator.evaluatePolicy("DemoPass123!"))
        let short = PasswordStrengthValidator.evaluatePolicy("Ab1")!
        XCTAssertTrue(short.missingRequirements.contains("at least 12 characters"))
        XCTAssertTrue(PasswordStrengthValidator.evaluatePolicy("alllowercase123")!.missingRequirements.contains("uppercase letter"))
        XCTAssertTrue(PasswordStrengthValidator.evaluatePolicy("ALLUPPERCASE123")!.missingRequirements.contains("lowercase letter"))
        XCTAssertTrue(PasswordStrengthValidator.evaluatePolicy("NoDigitsHereAtAll")!.missingRequirements.contains("number"))
        XCTAssertEqual(PasswordStrengthValidator.calculateStrength("DemoPass123!"), .strong)
        XCTAssertEqual(PasswordStrengthValidator.calculateStrength(""), .veryWeak)
        XCTAssertEqual(short.userMessage, "Password rejected.\nRequirements: 12+ chars, uppercase, lowercase, number, special character.")
    }
}
