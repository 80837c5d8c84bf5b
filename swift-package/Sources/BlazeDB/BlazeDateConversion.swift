import Foundation

/// Exact conversion between Swift's `Date` and the core's timestamps.
///
/// The core stores a date as whole seconds since 1970-01-01T00:00:00Z (floor) plus
/// nanoseconds. Swift's `Date` is a `Double` of seconds since 2001-01-01T00:00:00Z, exactly
/// 978,307,200 s later. Conversions work on `timeIntervalSinceReferenceDate` itself, never on
/// `timeIntervalSince1970` (adding the offset in floating point would round):
///
/// * to the core: `whole = floor(t)` and `frac = t - whole` are both exact in `Double`;
///   nanoseconds are `round(frac * 1e9)`; seconds are `Int64(whole) + 978_307_200` in
///   integer arithmetic.
/// * back: `Double(secs - 978_307_200) + Double(nanos) / 1e9`.
///
/// Whole-second dates round-trip exactly everywhere. Any date whose `Double` has a unit in
/// the last place of 2 ns or more (every date more than ~97 days from 2001-01-01, so every
/// date an app normally stores) round-trips to the identical `Double`; closer to 2001 the
/// core keeps the nearest nanosecond. `Date.distantPast`/`distantFuture` round-trip.
public enum BlazeDateConversion {
    /// Seconds from 1970-01-01 to 2001-01-01.
    public static let referenceDateOffset: Int64 = 978_307_200

    /// Unix seconds (floor) and nanoseconds for `date`; nil for a non-finite date.
    public static func unixParts(of date: Date) -> (seconds: Int64, nanoseconds: UInt32)? {
        let t = date.timeIntervalSinceReferenceDate
        guard t.isFinite, abs(t) < 9.0e15 else { return nil }
        var whole = t.rounded(.down)
        var nanos = ((t - whole) * 1e9).rounded()
        if nanos >= 1e9 {
            nanos -= 1e9
            whole += 1
        }
        return (Int64(whole) + referenceDateOffset, UInt32(nanos))
    }

    /// The `Date` for Unix seconds and nanoseconds.
    public static func date(unixSeconds secs: Int64, nanoseconds nanos: UInt32) -> Date {
        let (rel, overflow) = secs.subtractingReportingOverflow(referenceDateOffset)
        let whole = overflow ? Double(secs) - Double(referenceDateOffset) : Double(rel)
        return Date(timeIntervalSinceReferenceDate: whole + Double(nanos) / 1e9)
    }

    /// ISO 8601 with fractional seconds, as upstream's `dateValue` reads it (a string
    /// without fractional seconds is not a date there either).
    static func parseISO8601(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: s)
    }
}
