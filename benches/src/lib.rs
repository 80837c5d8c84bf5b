//! Shared workload for BlazeDB's benchmarks: realistic issue-tracker documents, and the
//! comparison harness behind the `blazedb-bench` binary ([`harness`]).

pub mod harness;

use blazedb::{Record, Timestamp, Value};
use rand::{Rng, SeedableRng, rngs::StdRng};

const WORDS: &[&str] = &[
    "crash", "launch", "sync", "login", "button", "layout", "memory", "leak", "slow", "network",
    "timeout", "screen", "dark", "mode", "widget", "keyboard", "scroll", "image", "cache",
    "upload", "settings", "profile", "search", "filter", "export", "import",
];
/// The values of `status`, drawn uniformly.
pub const STATUSES: &[&str] = &["open", "in_progress", "review", "closed"];
/// The values of `assignee`, drawn uniformly.
pub const PEOPLE: &[&str] = &["ana", "ben", "chen", "dara", "eli", "fay", "gus", "hana"];
/// Seconds since the Unix epoch of the first document's `createdAt`; document `i` is
/// created `i` minutes later.
pub const FIRST_CREATED: i64 = 1_700_000_000;
/// Seconds between two consecutive documents' `createdAt`.
pub const CREATED_STEP: i64 = 60;

fn words(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| WORDS[rng.gen_range(0..WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

/// `n` issue-tracker documents of about 300 bytes each: title, body, status, priority,
/// tags, createdAt and assignee. Seeded, so every engine and every run gets the same data.
pub fn issues(n: usize, seed: u64) -> Vec<Record> {
    IssueStream::new(seed).take(n).collect()
}

/// The name of reporter `k`, as [`IssueStream::with_reporters`] writes it.
pub fn reporter_name(k: usize) -> String {
    format!("user{k:05}")
}

/// The documents of [`issues`], one at a time, so a large load never holds them all.
///
/// With [`Self::with_reporters`] each document also gets a `reporter` drawn uniformly from
/// `k` names ([`reporter_name`]); the draw uses a second generator, so the other fields
/// are exactly those of [`issues`] with the same seed.
#[derive(Debug)]
pub struct IssueStream {
    rng: StdRng,
    reporters: Option<(usize, StdRng)>,
    next: usize,
}

impl IssueStream {
    /// The stream [`issues`] takes its documents from.
    pub fn new(seed: u64) -> Self {
        IssueStream {
            rng: StdRng::seed_from_u64(seed),
            reporters: None,
            next: 0,
        }
    }

    /// Adds a `reporter` field with `k` distinct values (`k` is at least 1).
    pub fn with_reporters(mut self, k: usize, seed: u64) -> Self {
        self.reporters = Some((
            k.max(1),
            StdRng::seed_from_u64(seed ^ 0x005e_ed0f_4e90_47e5),
        ));
        self
    }

    /// The next `n` documents.
    pub fn chunk(&mut self, n: usize) -> Vec<Record> {
        self.by_ref().take(n).collect()
    }
}

impl Iterator for IssueStream {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let i = self.next;
        self.next += 1;
        let rng = &mut self.rng;
        let tags: Vec<Value> = (0..rng.gen_range(1..4))
            .map(|_| Value::from(WORDS[rng.gen_range(0..WORDS.len())]))
            .collect();
        let mut r = Record::new()
            .with("title", words(rng, 5))
            .with("body", words(rng, 28))
            .with("status", STATUSES[rng.gen_range(0..STATUSES.len())])
            .with("priority", rng.gen_range(1..=5) as i64)
            .with("tags", Value::Array(tags))
            .with(
                "createdAt",
                Timestamp::new(
                    FIRST_CREATED + i as i64 * CREATED_STEP,
                    rng.gen_range(0..1_000_000) * 1000,
                ),
            )
            .with("assignee", PEOPLE[rng.gen_range(0..PEOPLE.len())]);
        if let Some((k, rr)) = &mut self.reporters {
            r.insert("reporter", reporter_name(rr.gen_range(0..*k)));
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reporters_leave_the_other_fields_alone() {
        let plain = issues(200, 7);
        let with: Vec<Record> = IssueStream::new(7)
            .with_reporters(10, 7)
            .take(200)
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for (a, mut b) in plain.into_iter().zip(with) {
            let r = b.remove("reporter").expect("every document has a reporter");
            seen.insert(r.as_str().expect("a string").to_string());
            assert_eq!(a, b);
        }
        // 200 uniform draws from 10 names: all 10 appear with overwhelming probability.
        assert_eq!(seen.len(), 10);
        assert!(seen.iter().all(|s| s.starts_with("user")));
    }

    #[test]
    fn chunks_continue_the_stream() {
        let whole = issues(30, 3);
        let mut s = IssueStream::new(3);
        let mut parts = s.chunk(10);
        parts.extend(s.chunk(20));
        assert_eq!(whole, parts);
    }
}
