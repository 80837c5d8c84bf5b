//! Finding the hidden preimage of a legacy v1 manifest hash.
//!
//! Exporters before 2.8 encoded the header and the records *without* `.sortedKeys`, and
//! encoded them twice: once for the hashes and once for the file. Swift dictionaries
//! iterate in a per-instance random order, so the two encodings hold the same members with
//! the same value text in different orders, and the order that was hashed is not in the
//! file. A match of a reordered encoding still proves the content: SHA-256 collisions are
//! out of reach, so if any member order of these exact members hashes to the manifest value,
//! the members are the ones that were hashed. This module searches for such an order:
//!
//! * the header: every member order of every object in it (a v1 header has 6! × 2! = 1,440);
//! * the records, in tiers, cheapest first, within a byte budget: every object sorted by key;
//!   one member order shared by all records with the same keys (what a Swift process gives
//!   when the allocator reuses a dictionary's storage address); that shared order with one
//!   record in a different order.
//!
//! Nested objects inside a record keep their file order in the record tiers.

use sha2::{Digest, Sha256};

use super::rawjson::{Kind, Node};

/// How much hashing a search may do, in bytes fed to SHA-256.
pub(crate) struct Budget {
    pub(crate) left: u64,
    pub(crate) spent: u64,
}

impl Budget {
    fn take(&mut self, n: u64) -> bool {
        if n > self.left {
            self.left = 0;
            return false;
        }
        self.left -= n;
        self.spent += n;
        true
    }
}

/// The tier that matched.
pub(crate) struct Found {
    pub(crate) tier: &'static str,
}

fn hex_to_bytes(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Compact JSON for `node` with each object's members in the order `order` picks.
fn write(node: &Node, text: &str, out: &mut Vec<u8>, order: &mut dyn FnMut(&Node) -> Vec<usize>) {
    match &node.kind {
        Kind::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, text, out, order);
            }
            out.push(b']');
        }
        Kind::Object(members) => {
            let idx = order(node);
            out.push(b'{');
            for (n, &i) in idx.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                let m = &members[i];
                out.extend_from_slice(text[m.key_span.clone()].as_bytes());
                out.push(b':');
                write(&m.value, text, out, order);
            }
            out.push(b'}');
        }
        _ => out.extend_from_slice(text[node.span.clone()].as_bytes()),
    }
}

fn file_order(node: &Node) -> Vec<usize> {
    (0..node.members().map_or(0, <[_]>::len)).collect()
}

fn sorted_order(node: &Node) -> Vec<usize> {
    let m = node.members().unwrap_or(&[]);
    let mut idx: Vec<usize> = (0..m.len()).collect();
    idx.sort_by(|&a, &b| m[a].key.as_bytes().cmp(m[b].key.as_bytes()));
    idx
}

/// All permutations of `0..k`, in lexicographic order.
fn permutations(k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut cur: Vec<usize> = (0..k).collect();
    loop {
        out.push(cur.clone());
        // Next lexicographic permutation.
        let Some(i) = (1..k).rev().find(|&i| cur[i - 1] < cur[i]) else {
            return out;
        };
        let j = (i..k).rev().find(|&j| cur[j] > cur[i - 1]).expect("exists");
        cur.swap(i - 1, j);
        cur[i..].reverse();
    }
}

fn factorial(k: usize) -> u64 {
    (1..=k as u64).fold(1u64, |a, b| a.saturating_mul(b))
}

fn objects<'a>(node: &'a Node, out: &mut Vec<&'a Node>) {
    match &node.kind {
        Kind::Array(items) => items.iter().for_each(|i| objects(i, out)),
        Kind::Object(members) => {
            out.push(node);
            members.iter().for_each(|m| objects(&m.value, out));
        }
        _ => {}
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Searches every member order of every object in a small value (the header).
pub(crate) fn search_all_orders(
    text: &str,
    node: &Node,
    target_hex: &str,
    budget: &mut Budget,
) -> Option<Found> {
    let target = hex_to_bytes(target_hex)?;
    let mut objs = Vec::new();
    objects(node, &mut objs);
    let total = objs
        .iter()
        .map(|o| factorial(o.members().map_or(0, <[_]>::len)))
        .fold(1u64, u64::saturating_mul);
    if total > 1_000_000 {
        return None;
    }
    let perms: Vec<Vec<Vec<usize>>> = objs
        .iter()
        .map(|o| permutations(o.members().map_or(0, <[_]>::len)))
        .collect();
    let mut counter = vec![0usize; objs.len()];
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let mut pick = |n: &Node| -> Vec<usize> {
            let at = objs
                .iter()
                .position(|o| std::ptr::eq(*o, n))
                .expect("collected above");
            perms[at][counter[at]].clone()
        };
        write(node, text, &mut buf, &mut pick);
        if !budget.take(buf.len() as u64 + 64) {
            return None;
        }
        if digest(&buf) == target {
            return Some(Found {
                tier: "every member order of the header",
            });
        }
        // Mixed-radix increment.
        let mut i = 0;
        loop {
            if i == counter.len() {
                return None;
            }
            counter[i] += 1;
            if counter[i] < perms[i].len() {
                break;
            }
            counter[i] = 0;
            i += 1;
        }
    }
}

/// One record prepared for the shared-order tiers.
struct Rec {
    /// Bytes before the storage members (`{"storage":{`) and after them (`}}`).
    head: Vec<u8>,
    tail: Vec<u8>,
    /// Each storage member as `"key":value`, indexed by the key's rank in the sorted key set.
    members: Vec<Vec<u8>>,
}

fn prepare(text: &str, records: &[Node]) -> Option<(Vec<Rec>, usize)> {
    let mut out = Vec::with_capacity(records.len());
    let mut keys: Option<Vec<&str>> = None;
    for r in records {
        let wrapper = r.members()?;
        if wrapper.len() != 1 || wrapper[0].key != "storage" {
            return None;
        }
        let storage = &wrapper[0].value;
        let members = storage.members()?;
        let order = sorted_order(storage);
        let these: Vec<&str> = order.iter().map(|&i| members[i].key.as_str()).collect();
        match &keys {
            None => keys = Some(these),
            Some(k) if *k == these => {}
            // Different key sets: the shared-order tiers assume one.
            Some(_) => return None,
        }
        let mut head = Vec::new();
        head.push(b'{');
        head.extend_from_slice(text[wrapper[0].key_span.clone()].as_bytes());
        head.extend_from_slice(b":{");
        let mut ms = Vec::with_capacity(order.len());
        for &i in &order {
            let m = &members[i];
            let mut b = Vec::new();
            b.extend_from_slice(text[m.key_span.clone()].as_bytes());
            b.push(b':');
            write(&m.value, text, &mut b, &mut file_order);
            ms.push(b);
        }
        out.push(Rec {
            head,
            tail: b"}}".to_vec(),
            members: ms,
        });
    }
    let k = keys.map_or(0, |k| k.len());
    Some((out, k))
}

fn record_bytes(rec: &Rec, perm: &[usize], out: &mut Vec<u8>) {
    out.extend_from_slice(&rec.head);
    for (n, &i) in perm.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&rec.members[i]);
    }
    out.extend_from_slice(&rec.tail);
}

/// Searches the records array (`[{"storage":{…}},…]`) tier by tier within `budget`.
pub(crate) fn search_records(
    text: &str,
    node: &Node,
    target_hex: &str,
    budget: &mut Budget,
) -> Option<Found> {
    let target = hex_to_bytes(target_hex)?;
    let items = node.items()?;
    // Tier 1: every object sorted by key (upstream's own first legacy variant).
    let mut buf = Vec::new();
    write(node, text, &mut buf, &mut sorted_order);
    if budget.take(buf.len() as u64 + 64) && digest(&buf) == target {
        return Some(Found {
            tier: "every object sorted by key",
        });
    }
    let (recs, k) = prepare(text, items)?;
    if recs.is_empty() || k > 8 {
        return None;
    }
    let perms = permutations(k);
    // Tier 2: one member order shared by every record.
    for p in &perms {
        buf.clear();
        buf.push(b'[');
        for (n, r) in recs.iter().enumerate() {
            if n > 0 {
                buf.push(b',');
            }
            record_bytes(r, p, &mut buf);
        }
        buf.push(b']');
        if !budget.take(buf.len() as u64 + 64) {
            return None;
        }
        if digest(&buf) == target {
            return Some(Found {
                tier: "one member order shared by every record",
            });
        }
    }
    // Tier 3: the shared order, with one record (tried from the last, the cheapest) in
    // another order. The state after each prefix is computed once and cloned.
    for i in (0..recs.len()).rev() {
        for p in &perms {
            let mut prefix = Vec::new();
            prefix.push(b'[');
            for r in &recs[..i] {
                record_bytes(r, p, &mut prefix);
                prefix.push(b',');
            }
            let mut suffix = Vec::new();
            for r in &recs[i + 1..] {
                suffix.push(b',');
                record_bytes(r, p, &mut suffix);
            }
            suffix.push(b']');
            if !budget.take(prefix.len() as u64) {
                return None;
            }
            let mut base = Sha256::new();
            base.update(&prefix);
            base.update(&recs[i].head);
            match dfs(&recs[i], p, &base, &suffix, &target, k, budget) {
                Some(true) => {
                    return Some(Found {
                        tier: "one shared member order with one record in another",
                    });
                }
                Some(false) => {}
                None => return None,
            }
        }
    }
    None
}

/// Walks the permutation tree of record `rec`'s members, hashing each shared prefix once.
/// `Some(found)`, or `None` when the budget ran out.
fn dfs(
    rec: &Rec,
    skip: &[usize],
    base: &Sha256,
    suffix: &[u8],
    target: &[u8; 32],
    k: usize,
    budget: &mut Budget,
) -> Option<bool> {
    struct Walk<'a> {
        rec: &'a Rec,
        skip: &'a [usize],
        suffix: &'a [u8],
        target: &'a [u8; 32],
        used: Vec<bool>,
        path: Vec<usize>,
    }
    fn go(w: &mut Walk<'_>, state: &Sha256, budget: &mut Budget) -> Option<bool> {
        let k = w.used.len();
        if w.path.len() == k {
            if w.path.as_slice() == w.skip {
                return Some(false);
            }
            // Tail, suffix and the final padding block.
            if !budget.take((w.rec.tail.len() + w.suffix.len()) as u64 + 64) {
                return None;
            }
            let mut h = state.clone();
            h.update(&w.rec.tail);
            h.update(w.suffix);
            let d: [u8; 32] = h.finalize().into();
            return Some(&d == w.target);
        }
        for i in 0..k {
            if w.used[i] {
                continue;
            }
            if !budget.take(w.rec.members[i].len() as u64 + 1) {
                return None;
            }
            let mut h = state.clone();
            if !w.path.is_empty() {
                h.update(b",");
            }
            h.update(&w.rec.members[i]);
            w.used[i] = true;
            w.path.push(i);
            let hit = go(w, &h, budget);
            w.path.pop();
            w.used[i] = false;
            if hit != Some(false) {
                return hit;
            }
        }
        Some(false)
    }
    let mut w = Walk {
        rec,
        skip,
        suffix,
        target,
        used: vec![false; k],
        path: Vec::with_capacity(k),
    };
    go(&mut w, base, budget)
}

/// Whether every object in `node` has its keys in ascending UTF-8 byte order, as a 2.8
/// exporter (`.sortedKeys`) writes them. For such a value the hashed bytes are the file's
/// own, so there is no hidden order to search for.
pub(crate) fn is_sorted(node: &Node) -> bool {
    match &node.kind {
        Kind::Array(items) => items.iter().all(is_sorted),
        Kind::Object(members) => {
            members
                .windows(2)
                .all(|w| w[0].key.as_bytes() < w[1].key.as_bytes())
                && members.iter().all(|m| is_sorted(&m.value))
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_are_complete() {
        let p = permutations(4);
        assert_eq!(p.len(), 24);
        let set: std::collections::HashSet<_> = p.iter().cloned().collect();
        assert_eq!(set.len(), 24);
        assert_eq!(permutations(0).len(), 1);
    }
}
