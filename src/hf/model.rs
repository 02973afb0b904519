//! The `BPE` model of Hugging Face's `tokenizers`, exactly.
//!
//! Hugging Face applies merges by *merge priority*: while some adjacent pair of symbols has a
//! merge, it merges the pair whose merge is listed first in `merges` (leftmost on ties). tiktoken
//! instead merges the pair whose *concatenation* has the lowest rank; the two agree on most but not
//! all vocabularies, so this model gives the shared merge loop (`crate::bpe::merge`) its own rule.
//!
//! Words are encoded as raw bytes: byte-level vocab entries are decoded to bytes at load time.

use rustc_hash::FxHashMap;

use super::byte_level::{byte_level_chars, decode_byte_level_into};
use crate::bpe::merge::{merge_heap, merge_scan, HeapScratch, MergeRule, Part};
use crate::vocab::{Rank, NO_RANK as NONE};

/// Words shorter than this many symbols use the quadratic scan; longer ones a heap (the scan is
/// faster for the short words natural text is made of, the heap keeps long words n log n).
const HEAP_THRESHOLD: usize = 48;
/// Words of this many bytes or more are not cached (Hugging Face uses the same bound).
const CACHE_MAX_WORD: usize = 256;
const CACHE_MAX_ENTRIES: usize = 1 << 16;

/// How a word is cut into the symbols BPE starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alphabet {
    /// One symbol per byte (a ByteLevel pre-tokenizer precedes the model).
    ByteLevel,
    /// One symbol per UTF-8 character, with `byte_fallback` / `unk_token` for unknown ones.
    Chars,
}

/// Options of the `BPE` model besides vocab and merges.
#[derive(Clone, Debug)]
pub struct BpeOptions {
    pub alphabet: Alphabet,
    pub ignore_merges: bool,
    pub byte_fallback: bool,
    pub unk_token: Option<String>,
    pub fuse_unk: bool,
}

/// The BPE model: vocab (as raw bytes for byte-level models) and merge priorities.
pub struct HfBpe {
    vocab: FxHashMap<Box<[u8]>, u32>,
    /// Byte-level models: the id of each single byte, NONE where the vocab lacks it.
    byte_ids: [u32; 256],
    /// `(left << 32) | right` -> rank (the merge's index in `merges`).
    ranks: FxHashMap<u64, u32>,
    /// Byte-level models with all 256 bytes: rank of each byte pair, `(a << 8) | b` (a dense
    /// table for the first pairs of every word, which are all byte pairs).
    byte_pair_ranks: Vec<u32>,
    /// rank -> id of the merged token.
    merged: Vec<u32>,
    /// `<0xXX>` ids, for byte_fallback (NONE where absent).
    fallback_ids: [u32; 256],
    unk_id: Option<u32>,
    opts: BpeOptions,
}

fn pair_key(a: u32, b: u32) -> u64 {
    ((a as u64) << 32) | b as u64
}

impl HfBpe {
    /// Build the model from the vocab (token string -> id) and merges (pairs of token strings, in
    /// priority order). Errors name the offending merge (0-based index) or token.
    pub fn new(
        vocab: &[(String, u32)],
        merges: &[(String, String)],
        opts: BpeOptions,
    ) -> Result<Self, String> {
        Self::with_merge_lines(vocab, merges, None, opts)
    }

    /// `new`, with errors naming `merge_lines[i]` (a line of merges.txt) instead of merge `i`.
    pub fn with_merge_lines(
        vocab: &[(String, u32)],
        merges: &[(String, String)],
        merge_lines: Option<&[usize]>,
        opts: BpeOptions,
    ) -> Result<Self, String> {
        let mut by_string: FxHashMap<&str, u32> = FxHashMap::default();
        by_string.reserve(vocab.len());
        by_string.extend(vocab.iter().map(|(s, id)| (s.as_str(), *id)));
        let mut bytes_vocab: FxHashMap<Box<[u8]>, u32> = FxHashMap::default();
        bytes_vocab.reserve(vocab.len());
        let mut byte_ids = [NONE; 256];
        let mut buf = Vec::new();
        for (s, id) in vocab {
            let key: &[u8] = match opts.alphabet {
                // Entries outside the byte-level alphabet can never be formed from input bytes.
                Alphabet::ByteLevel => {
                    if !decode_byte_level_into(s, &mut buf) {
                        continue;
                    }
                    &buf
                }
                Alphabet::Chars => s.as_bytes(),
            };
            if opts.alphabet == Alphabet::ByteLevel && key.len() == 1 {
                byte_ids[key[0] as usize] = *id;
            }
            bytes_vocab.insert(key.into(), *id);
        }
        let mut ranks = FxHashMap::default();
        ranks.reserve(merges.len());
        let mut merged = Vec::with_capacity(merges.len());
        let mut joined = String::new();
        for (rank, (a, b)) in merges.iter().enumerate() {
            joined.clear();
            joined.push_str(a);
            joined.push_str(b);
            let look = |t: &str| {
                by_string.get(t).copied().ok_or_else(|| {
                    let at = match merge_lines.and_then(|l| l.get(rank)) {
                        Some(line) => format!("line {line}"),
                        None => format!("merge {rank}"),
                    };
                    format!("{at} ({a:?} {b:?}): token {t:?} is not in the vocab")
                })
            };
            let (ia, ib, inew) = (look(a)?, look(b)?, look(&joined)?);
            // A later duplicate of a pair overrides the earlier one, as in Hugging Face's HashMap.
            ranks.insert(pair_key(ia, ib), rank as u32);
            merged.push(inew);
        }
        let mut fallback_ids = [NONE; 256];
        if opts.byte_fallback {
            for (b, slot) in fallback_ids.iter_mut().enumerate() {
                *slot = by_string
                    .get(format!("<0x{b:02X}>").as_str())
                    .copied()
                    .unwrap_or(NONE);
            }
        }
        let unk_id = match &opts.unk_token {
            Some(t) => Some(
                *by_string
                    .get(t.as_str())
                    .ok_or_else(|| format!("unk_token {t:?} is not in the vocab"))?,
            ),
            None => None,
        };
        let mut byte_pair_ranks = Vec::new();
        if opts.alphabet == Alphabet::ByteLevel && !byte_ids.contains(&NONE) {
            byte_pair_ranks = (0..1usize << 16)
                .map(|k| {
                    let (a, b) = (byte_ids[k >> 8], byte_ids[k & 0xFF]);
                    ranks.get(&pair_key(a, b)).copied().unwrap_or(NONE)
                })
                .collect();
        }
        Ok(HfBpe {
            vocab: bytes_vocab,
            byte_ids,
            ranks,
            byte_pair_ranks,
            merged,
            fallback_ids,
            unk_id,
            opts,
        })
    }

    fn pair_rank(&self, a: u32, b: u32) -> u32 {
        self.ranks.get(&pair_key(a, b)).copied().unwrap_or(NONE)
    }

    /// The starting symbols of `word` (Hugging Face's `merge_word` before `merge_all`).
    fn initial_symbols(&self, word: &[u8], out: &mut Vec<Part>) {
        out.clear();
        if self.opts.alphabet == Alphabet::ByteLevel && !self.byte_ids.contains(&NONE) {
            out.extend(word.iter().enumerate().map(|(i, &b)| Part {
                id: self.byte_ids[b as usize],
                start: i as u32,
                end: i as u32 + 1,
            }));
            return;
        }
        // General path: one unit per byte (byte-level) or per character, looked up in the vocab;
        // unknown units fall back to `<0xXX>` tokens, then to the unk token, else are dropped.
        // As in Hugging Face's `Word`, a symbol's span is the running sum of the lengths of the
        // symbols kept so far: a dropped unit shifts later spans left (clamped to the word).
        let table = byte_level_chars();
        let limit = word.len() as u32;
        let mut pos = 0u32;
        let mut push = |out: &mut Vec<Part>, id: u32, len: u32| {
            let start = pos.min(limit);
            pos += len;
            out.push(Part {
                id,
                start,
                end: pos.min(limit).max(start),
            });
        };
        let mut unk: Option<(u32, u32)> = None; // (id, byte length), not pushed yet
        let mut i = 0;
        while i < word.len() {
            let len = match self.opts.alphabet {
                Alphabet::ByteLevel => 1,
                Alphabet::Chars => utf8_len(word[i]).min(word.len() - i),
            };
            let unit = &word[i..i + len];
            i += len;
            if let Some(&id) = self.vocab.get(unit) {
                if let Some((u, n)) = unk.take() {
                    push(out, u, n);
                }
                push(out, id, len as u32);
                continue;
            }
            if self.opts.byte_fallback {
                // Hugging Face falls back on the bytes of the unit *as the model sees it*: for a
                // byte-level model that is the UTF-8 of the byte's stand-in character.
                let mut buf = [0u8; 4];
                let seen: &[u8] = match self.opts.alphabet {
                    Alphabet::ByteLevel => table[unit[0] as usize].encode_utf8(&mut buf).as_bytes(),
                    Alphabet::Chars => unit,
                };
                if seen.iter().all(|&b| self.fallback_ids[b as usize] != NONE) {
                    if let Some((u, n)) = unk.take() {
                        push(out, u, n);
                    }
                    for &b in seen {
                        push(out, self.fallback_ids[b as usize], 1);
                    }
                    continue;
                }
            }
            if let Some(unk_id) = self.unk_id {
                unk = match unk {
                    Some((u, n)) if self.opts.fuse_unk => Some((u, n + len as u32)),
                    Some((u, n)) => {
                        push(out, u, n);
                        Some((unk_id, len as u32))
                    }
                    None => Some((unk_id, len as u32)),
                };
            }
        }
        if let Some((u, n)) = unk {
            push(out, u, n);
        }
    }

    /// Encode one word (a pre-tokenizer piece) into `out`, appending; spans are relative to `word`.
    pub fn encode_word(&self, word: &[u8], scratch: &mut WordScratch, out: &mut Vec<Part>) {
        if word.is_empty() {
            return;
        }
        if self.opts.ignore_merges {
            if let Some(&id) = self.vocab.get(word) {
                out.push(Part {
                    id,
                    start: 0,
                    end: word.len() as u32,
                });
                return;
            }
        }
        let cacheable = word.len() < CACHE_MAX_WORD;
        if cacheable {
            if let Some(&(at, n)) = scratch.cache.get(word) {
                out.extend_from_slice(&scratch.arena[at as usize..(at + n) as usize]);
                return;
            }
        }
        let mut symbols = std::mem::take(&mut scratch.symbols);
        self.initial_symbols(word, &mut symbols);
        self.merge(word, &mut symbols, scratch);
        if cacheable {
            if scratch.cache.len() >= CACHE_MAX_ENTRIES {
                scratch.cache.clear();
                scratch.arena.clear();
            }
            let at = scratch.arena.len() as u32;
            scratch.arena.extend_from_slice(&symbols);
            scratch
                .cache
                .insert(word.into(), (at, symbols.len() as u32));
        }
        out.extend_from_slice(&symbols);
        scratch.symbols = symbols;
    }

    /// Merge the starting symbols of `word`: by repeated scans for short words, with a heap for
    /// long ones.
    fn merge(&self, word: &[u8], symbols: &mut Vec<Part>, scratch: &mut WordScratch) {
        if symbols.len() < HEAP_THRESHOLD {
            self.initial_ranks(word, symbols, &mut scratch.pair_ranks);
            let n = merge_scan(self, symbols, &mut scratch.pair_ranks);
            symbols.truncate(n);
        } else {
            merge_heap(self, symbols, &mut scratch.heap);
        }
    }

    /// Ranks of the adjacent pairs of the starting symbols of `word`.
    fn initial_ranks(&self, word: &[u8], sym: &[Part], ranks: &mut Vec<u32>) {
        ranks.clear();
        if !self.byte_pair_ranks.is_empty() && sym.len() == word.len() {
            let table = &self.byte_pair_ranks;
            ranks.extend(
                word.windows(2)
                    .map(|w| table[((w[0] as usize) << 8) | w[1] as usize]),
            );
        } else {
            ranks.extend(sym.windows(2).map(|w| self.pair_rank(w[0].id, w[1].id)));
        }
    }
}

/// Hugging Face's rank rule: a pair's rank is its merge's position in `merges`.
impl MergeRule for HfBpe {
    #[inline(always)]
    fn rank(&self, left: &Part, right: &Part) -> Rank {
        self.pair_rank(left.id, right.id)
    }

    #[inline(always)]
    fn merged(&self, rank: Rank) -> Rank {
        self.merged[rank as usize]
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// Reusable buffers and the word cache of one encoding thread (never shared between threads).
#[derive(Default)]
pub struct WordScratch {
    symbols: Vec<Part>,
    pair_ranks: Vec<u32>,
    heap: HeapScratch,
    cache: FxHashMap<Box<[u8]>, (u32, u32)>,
    arena: Vec<Part>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::hf::byte_level::byte_level_chars;
    use crate::hf::merges::parse_merges_txt;

    pub(crate) fn byte_level(s: &[u8]) -> String {
        let t = byte_level_chars();
        s.iter().map(|&b| t[b as usize]).collect()
    }

    /// A byte-level model over all 256 bytes plus the given merges.
    pub(crate) fn model(merges: &[(&str, &str)], ignore_merges: bool) -> HfBpe {
        let mut vocab: Vec<(String, u32)> =
            (0..=255u8).map(|b| (byte_level(&[b]), b as u32)).collect();
        let mut ms = Vec::new();
        for (a, b) in merges {
            let (a, b) = (byte_level(a.as_bytes()), byte_level(b.as_bytes()));
            let m = format!("{a}{b}");
            if !vocab.iter().any(|(s, _)| *s == m) {
                vocab.push((m, vocab.len() as u32));
            }
            ms.push((a, b));
        }
        let opts = BpeOptions {
            alphabet: Alphabet::ByteLevel,
            ignore_merges,
            byte_fallback: false,
            unk_token: None,
            fuse_unk: false,
        };
        HfBpe::new(&vocab, &ms, opts).unwrap()
    }

    pub(crate) fn ids(m: &HfBpe, word: &str) -> Vec<u32> {
        let mut out = Vec::new();
        m.encode_word(word.as_bytes(), &mut WordScratch::default(), &mut out);
        out.iter().map(|p| p.id).collect()
    }

    #[test]
    fn merge_lines_name_the_line() {
        let (m, _) = parse_merges_txt("#version: 0.2\na b\r\nab c\n").unwrap();
        let vocab = vec![("a".to_string(), 0), ("b".to_string(), 1)];
        let err = HfBpe::with_merge_lines(&vocab, &m[..1], Some(&[7]), chars_opts())
            .err()
            .unwrap();
        assert!(
            err.starts_with("line 7 (\"a\" \"b\"): token \"ab\""),
            "{err}"
        );
    }

    fn chars_opts() -> BpeOptions {
        BpeOptions {
            alphabet: Alphabet::Chars,
            ignore_merges: false,
            byte_fallback: false,
            unk_token: None,
            fuse_unk: false,
        }
    }

    #[test]
    fn merge_priority_not_concatenation_rank() {
        // "ab" is merged before "bc" because its merge is listed first, even though the
        // concatenation "bc" has the lower id; then "ab"+"c" has no merge.
        let m = model(&[("a", "b"), ("b", "c")], false);
        let (ab, bc) = (256, 257);
        assert_eq!(ids(&m, "abc"), vec![ab, b'c' as u32]);
        let m = model(&[("b", "c"), ("a", "b")], false);
        assert_eq!(ids(&m, "abc"), vec![b'a' as u32, bc - 1]);
    }

    #[test]
    fn ties_go_leftmost_and_ignore_merges_short_circuits() {
        let m = model(&[("a", "a")], false);
        assert_eq!(ids(&m, "aaa"), vec![256, b'a' as u32]);
        // With ignore_merges a whole-word vocab hit wins even without a merge path to it.
        let mut m = model(&[("a", "a"), ("aa", "aa")], true);
        assert_eq!(ids(&m, "aaaa"), vec![257]);
        m.opts.ignore_merges = false;
        assert_eq!(ids(&m, "aaaa"), vec![257]);
    }

    #[test]
    fn heap_and_scan_agree_on_long_words() {
        let merges = [
            ("a", "b"),
            ("b", "a"),
            ("ab", "ab"),
            ("a", "a"),
            ("ba", "b"),
            ("abab", "a"),
        ];
        let m = model(&merges, false);
        let mut seed = 7u64;
        for len in [1usize, 2, 5, 47, 48, 49, 100, 500] {
            let word: String = (0..len)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    if (seed >> 33).is_multiple_of(3) {
                        'a'
                    } else {
                        'b'
                    }
                })
                .collect();
            let mut scan = Vec::new();
            m.initial_symbols(word.as_bytes(), &mut scan);
            let mut ranks = Vec::new();
            m.initial_ranks(word.as_bytes(), &scan, &mut ranks);
            let n = merge_scan(&m, &mut scan, &mut ranks);
            scan.truncate(n);
            let mut heap = Vec::new();
            m.initial_symbols(word.as_bytes(), &mut heap);
            merge_heap(&m, &mut heap, &mut HeapScratch::default());
            assert_eq!(scan, heap, "word {word}");
            assert_eq!(scan.last().map(|p| p.end as usize), Some(len));
        }
    }

    #[test]
    fn unknown_merge_token_is_an_error_naming_it() {
        let vocab = vec![("a".to_string(), 0), ("b".to_string(), 1)];
        let opts = BpeOptions {
            alphabet: Alphabet::Chars,
            ignore_merges: false,
            byte_fallback: false,
            unk_token: None,
            fuse_unk: false,
        };
        let err = HfBpe::new(&vocab, &[("a".into(), "b".into())], opts)
            .err()
            .unwrap();
        assert!(err.contains("merge 0") && err.contains("\"ab\""), "{err}");
    }

    #[test]
    fn chars_alphabet_unk_and_byte_fallback() {
        let mut vocab: Vec<(String, u32)> = vec![("a".into(), 0), ("<unk>".into(), 1)];
        vocab.extend((0..256u32).map(|b| (format!("<0x{b:02X}>"), 2 + b)));
        let mut opts = BpeOptions {
            alphabet: Alphabet::Chars,
            ignore_merges: false,
            byte_fallback: false,
            unk_token: Some("<unk>".into()),
            fuse_unk: true,
        };
        let m = HfBpe::new(&vocab, &[], opts.clone()).unwrap();
        assert_eq!(ids(&m, "aéé a"), vec![0, 1, 0]);
        opts.byte_fallback = true;
        let m = HfBpe::new(&vocab, &[], opts).unwrap();
        assert_eq!(ids(&m, "aé"), vec![0, 2 + 0xC3, 2 + 0xA9]);
    }
}
