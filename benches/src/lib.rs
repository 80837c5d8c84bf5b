//! Shared workload for BlazeDB's benchmarks: realistic issue-tracker documents.

use blazedb::{Record, Timestamp, Value};
use rand::{Rng, SeedableRng, rngs::StdRng};

const WORDS: &[&str] = &[
    "crash", "launch", "sync", "login", "button", "layout", "memory", "leak", "slow", "network",
    "timeout", "screen", "dark", "mode", "widget", "keyboard", "scroll", "image", "cache",
    "upload", "settings", "profile", "search", "filter", "export", "import",
];
const STATUSES: &[&str] = &["open", "in_progress", "review", "closed"];
const PEOPLE: &[&str] = &["ana", "ben", "chen", "dara", "eli", "fay", "gus", "hana"];

fn words(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| WORDS[rng.gen_range(0..WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

/// `n` issue-tracker documents of about 300 bytes each: title, body, status, priority,
/// tags, createdAt and assignee. Seeded, so every engine and every run gets the same data.
pub fn issues(n: usize, seed: u64) -> Vec<Record> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let tags: Vec<Value> = (0..rng.gen_range(1..4))
                .map(|_| Value::from(WORDS[rng.gen_range(0..WORDS.len())]))
                .collect();
            Record::new()
                .with("title", words(&mut rng, 5))
                .with("body", words(&mut rng, 28))
                .with("status", STATUSES[rng.gen_range(0..STATUSES.len())])
                .with("priority", rng.gen_range(1..=5) as i64)
                .with("tags", Value::Array(tags))
                .with(
                    "createdAt",
                    Timestamp::new(
                        1_700_000_000 + i as i64 * 60,
                        rng.gen_range(0..1_000_000) * 1000,
                    ),
                )
                .with("assignee", PEOPLE[rng.gen_range(0..PEOPLE.len())])
        })
        .collect()
}
