//! The merge phase: learning merges from counted pieces, with incremental pair counts.
//!
//! Each distinct piece is a *word*: a sequence of token ids with the piece's count. The count of
//! a pair `(a, b)` is the sum, over words, of the word's count times the number of adjacent
//! positions holding `a, b` (overlapping positions included, as in minbpe's `get_stats`).
//!
//! Each step takes the pair with the highest count; ties go to the smallest `(a, b)` by id. The
//! pair's occurrences are merged left to right in every word that holds it, and only those
//! words' pairs are recounted. The queue is a max-heap with lazy deletion: an entry whose count
//! is out of date is pushed again with the current count when it comes to the top (counts of old
//! pairs only fall; the new token's pairs are pushed when they form).
//!
//! A pair whose bytes are already a token (`ab` + `c` when `a` + `bc` made `abc` earlier) merges
//! into that token and adds none; a pair that the caller's filter refuses is never merged.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::{FxHashMap, FxHashSet};

use super::count::PieceCounts;
use super::TrainError;

/// A token id.
pub type Id = u32;
/// How many new tokens between two progress calls.
pub const PROGRESS_EVERY: usize = 1000;
pub type Pair = (Id, Id);

/// One merge step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Learned {
    pub left: Id,
    pub right: Id,
    /// The token the pair became.
    pub token: Id,
    /// The pair's count when it was merged.
    pub count: u64,
    /// Whether `token` was added by this step (false: it already existed).
    pub added: bool,
}

/// The token table while training: id -> bytes (empty = no token) and bytes -> id.
#[derive(Debug, Clone, Default)]
pub struct TokenTable {
    bytes: Vec<Vec<u8>>,
    ids: FxHashMap<Vec<u8>, Id>,
}

impl TokenTable {
    /// The 256 single bytes, byte `b` with id `b`.
    pub fn bytes_only() -> Self {
        let mut t = TokenTable::default();
        for b in 0..=255u8 {
            t.insert(b as Id, vec![b]);
        }
        t
    }

    pub fn insert(&mut self, id: Id, bytes: Vec<u8>) {
        let i = id as usize;
        if self.bytes.len() <= i {
            self.bytes.resize(i + 1, Vec::new());
        }
        self.ids.insert(bytes.clone(), id);
        self.bytes[i] = bytes;
    }

    pub fn bytes(&self, id: Id) -> &[u8] {
        &self.bytes[id as usize]
    }

    pub fn id(&self, bytes: &[u8]) -> Option<Id> {
        self.ids.get(bytes).copied()
    }

    /// The bytes of the token a pair would make.
    pub fn concat(&self, pair: Pair) -> Vec<u8> {
        let mut bytes = self.bytes(pair.0).to_vec();
        bytes.extend_from_slice(self.bytes(pair.1));
        bytes
    }

    /// Token bytes by id (empty where an id has no token).
    pub fn into_bytes(self) -> Vec<Vec<u8>> {
        self.bytes
    }
}

/// Settings of a training run from single bytes.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Tokens to add (the vocabulary gets 256 + this many, before special tokens).
    pub n_merges: usize,
    /// Stop when the best pair occurs fewer times than this.
    pub min_frequency: u64,
}

/// The result of training: the tokens in rank order and every merge step.
#[derive(Debug, Clone)]
pub struct Trained {
    /// Token bytes by id (`tokens[id]`); ids without a token (special-token slots) are empty.
    pub tokens: Vec<Vec<u8>>,
    pub merges: Vec<Learned>,
}

/// Train a vocabulary from the 256 bytes: byte `b` has rank `b`, the i-th new token rank 256 + i.
/// `progress(tokens_added)` is called every `PROGRESS_EVERY` new tokens; returning false stops
/// with `TrainError::Interrupted`.
pub fn train_from_bytes(
    counts: &PieceCounts,
    opts: &TrainOptions,
    progress: &mut dyn FnMut(usize) -> bool,
) -> Result<Trained, TrainError> {
    if counts.is_empty() {
        return Err(TrainError::EmptyCorpus);
    }
    let mut table = TokenTable::bytes_only();
    let merges = Merger::new(byte_words(counts)).run(
        &mut table,
        256,
        (opts.n_merges, opts.min_frequency),
        &|_| true,
        progress,
    )?;
    Ok(Trained {
        tokens: table.into_bytes(),
        merges,
    })
}

/// Every counted piece as a word of byte ids, in the canonical (sorted) order.
pub fn byte_words(counts: &PieceCounts) -> impl Iterator<Item = (Vec<Id>, u64)> + '_ {
    counts
        .sorted()
        .into_iter()
        .map(|(piece, c)| (piece.iter().map(|&b| b as Id).collect(), c))
}

/// Words as one flat array of ids (each word shrinks in place as it merges).
pub struct Merger {
    symbols: Vec<Id>,
    start: Vec<u32>,
    len: Vec<u32>,
    count: Vec<u64>,
    pairs: FxHashMap<Pair, u64>,
    /// For each pair, words that held it when it formed (may be stale or repeated).
    where_: FxHashMap<Pair, Vec<u32>>,
    heap: BinaryHeap<(u64, Reverse<Pair>)>,
    /// Tokens of the whole corpus (sum of count x length over all words, single tokens too).
    n_tokens: u64,
}

impl Merger {
    /// Build from `(ids, count)` words in a canonical order.
    pub fn new(words: impl Iterator<Item = (Vec<Id>, u64)>) -> Self {
        let mut m = Merger {
            symbols: Vec::new(),
            start: Vec::new(),
            len: Vec::new(),
            count: Vec::new(),
            pairs: FxHashMap::default(),
            where_: FxHashMap::default(),
            heap: BinaryHeap::new(),
            n_tokens: 0,
        };
        for (ids, c) in words {
            m.n_tokens += c * ids.len() as u64;
            if ids.len() < 2 {
                continue;
            }
            m.start.push(m.symbols.len() as u32);
            m.len.push(ids.len() as u32);
            m.count.push(c);
            m.symbols.extend_from_slice(&ids);
        }
        for w in 0..m.count.len() {
            let c = m.count[w];
            let (s, n) = (m.start[w] as usize, m.len[w] as usize);
            for i in s..s + n - 1 {
                let p = (m.symbols[i], m.symbols[i + 1]);
                *m.pairs.entry(p).or_insert(0) += c;
                let list = m.where_.entry(p).or_default();
                if list.last() != Some(&(w as u32)) {
                    list.push(w as u32);
                }
            }
        }
        m.heap = m.pairs.iter().map(|(&p, &c)| (c, Reverse(p))).collect();
        m
    }

    /// Learn until `n_new` tokens were added or no allowed pair occurs `min_frequency` times
    /// (`limits` = `(n_new, min_frequency)`). New ids count up from `next_id`; `allow(bytes)`
    /// decides whether a new token may exist; `progress(added)` runs every `PROGRESS_EVERY`.
    pub fn run(
        &mut self,
        table: &mut TokenTable,
        mut next_id: Id,
        limits: (usize, u64),
        allow: &dyn Fn(&[u8]) -> bool,
        progress: &mut dyn FnMut(usize) -> bool,
    ) -> Result<Vec<Learned>, TrainError> {
        let (n_new, min_frequency) = limits;
        let mut merges = Vec::new();
        let mut added = 0;
        let mut refused: FxHashSet<Pair> = FxHashSet::default();
        while added < n_new {
            let Some((c, pair)) = self.pop_best() else {
                break;
            };
            if c < min_frequency.max(1) {
                break;
            }
            let bytes = table.concat(pair);
            let (token, is_new) = match table.id(&bytes) {
                Some(id) => (id, false),
                None if refused.contains(&pair) => continue,
                None if !allow(&bytes) => {
                    refused.insert(pair);
                    continue;
                }
                None => (next_id, true),
            };
            if is_new {
                table.insert(token, bytes);
                next_id += 1;
                added += 1;
                if added % PROGRESS_EVERY == 0 && !progress(added) {
                    return Err(TrainError::Interrupted);
                }
            }
            self.apply(pair, token);
            merges.push(Learned {
                left: pair.0,
                right: pair.1,
                token,
                count: c,
                added: is_new,
            });
        }
        Ok(merges)
    }

    /// Tokens the corpus takes now.
    pub fn n_tokens(&self) -> u64 {
        self.n_tokens
    }

    /// The best pair with its current count, left in the queue (None when no pair is left).
    pub fn peek_best(&mut self) -> Option<(u64, Pair)> {
        let best = self.pop_best();
        if let Some((c, p)) = best {
            self.heap.push((c, Reverse(p)));
        }
        best
    }

    /// The best pair with its current count (None when no pair is left).
    fn pop_best(&mut self) -> Option<(u64, Pair)> {
        while let Some((c, Reverse(p))) = self.heap.pop() {
            let current = self.pairs.get(&p).copied().unwrap_or(0);
            if current == 0 {
                continue;
            }
            if current != c {
                self.heap.push((current, Reverse(p)));
                continue;
            }
            return Some((c, p));
        }
        None
    }

    /// Merge `pair` into `token` in every word that holds it and update the counts.
    pub fn apply(&mut self, pair: Pair, token: Id) {
        let words = self.where_.remove(&pair).unwrap_or_default();
        self.pairs.remove(&pair);
        let mut formed: FxHashSet<Pair> = FxHashSet::default();
        let (pairs, where_) = (&mut self.pairs, &mut self.where_);
        // Each occurrence, merged left to right, replaces (prev, a) by (prev, token) and
        // (b, next) by (token, next) in the current state of the word; a later occurrence sees
        // the token an earlier one made, so the changes add up to the recount of the word.
        let mut add = |p: Pair, c: u64, w: u32| {
            *pairs.entry(p).or_insert(0) += c;
            formed.insert(p);
            let list = where_.entry(p).or_default();
            if list.last() != Some(&w) {
                list.push(w);
            }
        };
        let mut removed: Vec<(Pair, u64)> = Vec::new();
        for w in words {
            let wi = w as usize;
            let (s, n, c) = (
                self.start[wi] as usize,
                self.len[wi] as usize,
                self.count[wi],
            );
            let word = &mut self.symbols[s..s + n];
            let (mut i, mut j) = (0, 0);
            while i < n {
                if i + 1 < n && word[i] == pair.0 && word[i + 1] == pair.1 {
                    if j > 0 {
                        let prev = word[j - 1];
                        removed.push(((prev, pair.0), c));
                        add((prev, token), c, w);
                    }
                    if i + 2 < n {
                        let next = word[i + 2];
                        removed.push(((pair.1, next), c));
                        add((token, next), c, w);
                    }
                    word[j] = token;
                    i += 2;
                } else {
                    word[j] = word[i];
                    i += 1;
                }
                j += 1;
            }
            self.len[wi] = j as u32;
            self.n_tokens -= c * (n - j) as u64;
        }
        // Subtract after adding: a pair an occurrence made may be taken apart by the next one.
        for (p, c) in removed {
            if p != pair {
                if let Some(v) = self.pairs.get_mut(&p) {
                    *v -= c;
                }
            }
        }
        for p in formed {
            let c = self.pairs.get(&p).copied().unwrap_or(0);
            if c > 0 {
                self.heap.push((c, Reverse(p)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretok::{Pretokenizer, O200K_PATTERN};

    /// minbpe-style reference: recount every pair of every word at each step.
    fn reference(
        words: &[(Vec<u8>, u64)],
        n: usize,
        min_frequency: u64,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut table = TokenTable::bytes_only();
        let mut ws: Vec<(Vec<Id>, u64)> = words
            .iter()
            .map(|(w, c)| (w.iter().map(|&b| b as Id).collect(), *c))
            .collect();
        let mut out = Vec::new();
        let mut next = 256;
        while out.len() < n {
            let mut stats: std::collections::BTreeMap<Pair, u64> = Default::default();
            for (w, c) in &ws {
                for x in w.windows(2) {
                    *stats.entry((x[0], x[1])).or_default() += c;
                }
            }
            let Some((&pair, &c)) = stats.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            else {
                break;
            };
            if c < min_frequency {
                break;
            }
            let mut bytes = table.bytes(pair.0).to_vec();
            bytes.extend_from_slice(table.bytes(pair.1));
            let token = match table.id(&bytes) {
                Some(t) => t,
                None => {
                    table.insert(next, bytes.clone());
                    next += 1;
                    out.push((table.bytes(pair.0).to_vec(), table.bytes(pair.1).to_vec()));
                    next - 1
                }
            };
            for (w, _) in ws.iter_mut() {
                let mut o = Vec::new();
                let mut i = 0;
                while i < w.len() {
                    if i + 1 < w.len() && (w[i], w[i + 1]) == pair {
                        o.push(token);
                        i += 2;
                    } else {
                        o.push(w[i]);
                        i += 1;
                    }
                }
                *w = o;
            }
        }
        out
    }

    fn learned_pairs(t: &Trained) -> Vec<(Vec<u8>, Vec<u8>)> {
        t.merges
            .iter()
            .filter(|m| m.added)
            .map(|m| {
                (
                    t.tokens[m.left as usize].clone(),
                    t.tokens[m.right as usize].clone(),
                )
            })
            .collect()
    }

    fn counts_of(text: &str) -> PieceCounts {
        let mut c = PieceCounts::new();
        c.add_texts(&Pretokenizer::new(O200K_PATTERN).unwrap(), &[text])
            .unwrap();
        c
    }

    #[test]
    fn train_merges_equal_reference() {
        let text =
            "aaaa abab aaab hello hello hellooo world worldly wor wo w 안녕하세요 안녕 하세요 \
                    the the then there their other others 12345 123 12 "
                .repeat(3);
        let counts = counts_of(&text);
        let words: Vec<(Vec<u8>, u64)> = counts
            .sorted()
            .into_iter()
            .map(|(k, c)| (k.to_vec(), c))
            .collect();
        for min_frequency in [1, 2, 5] {
            let t = train_from_bytes(
                &counts,
                &TrainOptions {
                    n_merges: 60,
                    min_frequency,
                },
                &mut |_| true,
            )
            .unwrap();
            assert_eq!(learned_pairs(&t), reference(&words, 60, min_frequency));
        }
    }

    #[test]
    fn train_empty_corpus_is_an_error() {
        let err = train_from_bytes(
            &PieceCounts::new(),
            &TrainOptions {
                n_merges: 10,
                min_frequency: 1,
            },
            &mut |_| true,
        )
        .unwrap_err();
        assert_eq!(err, TrainError::EmptyCorpus);
    }

    #[test]
    fn train_random_corpora_equal_reference() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for round in 0..30 {
            let mut text = String::new();
            for _ in 0..300 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let alphabet = ["a", "b", "c", " ", "ab", "\n", "가", "é"];
                text.push_str(alphabet[(x % (2 + round % 7) as u64) as usize]);
            }
            let counts = counts_of(&text);
            let words: Vec<(Vec<u8>, u64)> = counts
                .sorted()
                .into_iter()
                .map(|(k, c)| (k.to_vec(), c))
                .collect();
            let t = train_from_bytes(
                &counts,
                &TrainOptions {
                    n_merges: 40,
                    min_frequency: 1,
                },
                &mut |_| true,
            )
            .unwrap();
            assert_eq!(learned_pairs(&t), reference(&words, 40, 1), "round {round}");
        }
    }
}
