import Foundation

// Upstream API whose engine feature the Rust core does not have throws
// `BlazeDBError.notImplemented(feature:)`; nothing pretends to work. What still throws is
// listed in docs/BINDINGS.md ("Not implemented"): today only
// `SearchConfig(caseSensitive: true)`, since the full-text index folds case.

func notImplemented(_ feature: String) -> BlazeDBError {
    .notImplemented(feature: feature)
}
