//! Hugging Face BPE: the `tokenizers` library's `BPE` model and byte-level pipeline, exactly.
//!
//! Hugging Face applies merges by *merge priority*: while some adjacent pair of symbols has a
//! merge, it merges the pair whose merge is listed first in `merges` (leftmost on ties). tiktoken
//! instead merges the pair whose *concatenation* has the lowest rank; the two agree on most but not
//! all vocabularies, so this module implements Hugging Face's rule on its own.
//!
//! The pipeline mirrors `tokenizers::Tokenizer::encode` for byte-level models:
//! 1. added tokens that are matched on the raw text (`normalized: false`) are cut out,
//! 2. (normalization is done by the caller, in Python), then added tokens matched on normalized
//!    text are cut out of the remaining pieces,
//! 3. the pre-tokenizer steps (`Split` with a regex, `ByteLevel`) split each piece,
//! 4. the model encodes each word, after mapping bytes to GPT-2's byte-level alphabet.
//!
//! Step 4 never builds byte-level strings: vocab entries are decoded to raw bytes at load time and
//! words are encoded as raw bytes. Offsets are byte offsets in the text given to `encode`, widened
//! to whole characters (a token holding part of a multi-byte character covers all of it, as in
//! Hugging Face, whose alignments are per character).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Mutex;

use rustc_hash::FxHashMap;

use crate::pretok::Pretokenizer;

/// `tokenizers`' ByteLevel pre-tokenizer regex; `Pretokenizer::new` gives it a fast scanner.
pub use crate::pretok::GPT2_PATTERN as BYTE_LEVEL_PATTERN;

const NONE: u32 = u32::MAX;
/// Words shorter than this many symbols use the quadratic scan; longer ones a heap (the scan is
/// faster for the short words natural text is made of, the heap keeps long words n log n).
const HEAP_THRESHOLD: usize = 48;
/// Words of this many bytes or more are not cached (Hugging Face uses the same bound).
const CACHE_MAX_WORD: usize = 256;
const CACHE_MAX_ENTRIES: usize = 1 << 16;

/// GPT-2's `bytes_to_unicode`: printable Latin-1 bytes map to themselves, the other 68 bytes to
/// U+0100.. in byte order, so that every byte is a visible character.
const BYTE_CHARS: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut shifted = 0u32;
    let mut b = 0u32;
    while b < 256 {
        let printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        table[b as usize] = if printable {
            b
        } else {
            shifted += 1;
            255 + shifted
        };
        b += 1;
    }
    table
};

/// The inverse of `BYTE_CHARS`: code point (< 324) -> byte, NONE outside the alphabet.
const CHAR_BYTES: [u32; 324] = {
    let mut inverse = [NONE; 324];
    let mut b = 0;
    while b < 256 {
        inverse[BYTE_CHARS[b] as usize] = b as u32;
        b += 1;
    }
    inverse
};

/// The character GPT-2's byte-level alphabet uses for each byte.
pub fn byte_level_chars() -> [char; 256] {
    BYTE_CHARS.map(|c| char::from_u32(c).expect("valid code point"))
}

/// The bytes a byte-level string stands for, or None if some character is outside the alphabet.
pub fn decode_byte_level(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    decode_byte_level_into(s, &mut out).then_some(out)
}

/// `decode_byte_level` into `out` (cleared first); false if a character is outside the alphabet.
fn decode_byte_level_into(s: &str, out: &mut Vec<u8>) -> bool {
    out.clear();
    for c in s.chars() {
        match CHAR_BYTES.get(c as usize) {
            Some(&b) if b != NONE => out.push(b as u8),
            _ => return false,
        }
    }
    true
}

/// Merges in priority order, as pairs of token strings.
pub type MergeList = Vec<(String, String)>;

/// GPT-2's `merges.txt`: `#version` lines are skipped, every other line is "left right".
/// Returns the merges and the 1-based line number of each; errors name the line.
pub fn parse_merges_txt(text: &str) -> Result<(MergeList, Vec<usize>), String> {
    let mut merges = Vec::new();
    let mut lines = Vec::new();
    let body = text.strip_suffix('\n').unwrap_or(text);
    if body.is_empty() && text.len() <= 1 {
        return Ok((merges, lines));
    }
    for (i, line) in body.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with("#version") {
            continue;
        }
        let mut parts = line.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), None) => merges.push((a.to_string(), b.to_string())),
            _ => {
                let shown: String = line.chars().take(80).collect();
                return Err(format!(
                    "line {}: a merge must be two tokens separated by one space, got {shown:?}",
                    i + 1
                ));
            }
        }
        lines.push(i + 1);
    }
    Ok((merges, lines))
}

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

/// One token of a word: its id and its byte span in the word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    pub id: u32,
    pub start: u32,
    pub end: u32,
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

    fn rank(&self, a: u32, b: u32) -> u32 {
        self.ranks.get(&pair_key(a, b)).copied().unwrap_or(NONE)
    }

    /// The starting symbols of `word` (Hugging Face's `merge_word` before `merge_all`).
    fn initial_symbols(&self, word: &[u8], out: &mut Vec<Piece>) {
        out.clear();
        if self.opts.alphabet == Alphabet::ByteLevel && !self.byte_ids.contains(&NONE) {
            out.extend(word.iter().enumerate().map(|(i, &b)| Piece {
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
        let mut push = |out: &mut Vec<Piece>, id: u32, len: u32| {
            let start = pos.min(limit);
            pos += len;
            out.push(Piece {
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
    pub fn encode_word(&self, word: &[u8], scratch: &mut Scratch, out: &mut Vec<Piece>) {
        if word.is_empty() {
            return;
        }
        if self.opts.ignore_merges {
            if let Some(&id) = self.vocab.get(word) {
                out.push(Piece {
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
        if symbols.len() < HEAP_THRESHOLD {
            self.initial_ranks(word, &symbols, &mut scratch.pair_ranks);
            self.merge_scan(&mut symbols, &mut scratch.pair_ranks);
        } else {
            self.merge_heap(&mut symbols, scratch);
        }
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

    /// Merge by repeatedly scanning for the best pair: O(n^2), fastest for short words.
    /// Ranks of the adjacent pairs of the starting symbols of `word`.
    fn initial_ranks(&self, word: &[u8], sym: &[Piece], ranks: &mut Vec<u32>) {
        ranks.clear();
        if !self.byte_pair_ranks.is_empty() && sym.len() == word.len() {
            let table = &self.byte_pair_ranks;
            ranks.extend(
                word.windows(2)
                    .map(|w| table[((w[0] as usize) << 8) | w[1] as usize]),
            );
        } else {
            ranks.extend(sym.windows(2).map(|w| self.rank(w[0].id, w[1].id)));
        }
    }

    fn merge_scan(&self, sym: &mut Vec<Piece>, ranks: &mut Vec<u32>) {
        loop {
            // Leftmost minimum in two passes: `min` and `position` each vectorize.
            let rank = ranks.iter().copied().min().unwrap_or(NONE);
            if rank == NONE {
                return;
            }
            let i = ranks.iter().position(|&r| r == rank).unwrap_or(0);
            sym[i] = Piece {
                id: self.merged[rank as usize],
                start: sym[i].start,
                end: sym[i + 1].end,
            };
            sym.remove(i + 1);
            ranks.remove(i);
            if i > 0 {
                ranks[i - 1] = self.rank(sym[i - 1].id, sym[i].id);
            }
            if i < ranks.len() {
                ranks[i] = self.rank(sym[i].id, sym[i + 1].id);
            }
        }
    }

    /// Hugging Face's `Word::merge_all`: a min-heap of (rank, position) over a linked list of
    /// symbols; stale entries (whose pair changed since it was pushed) are skipped on pop.
    fn merge_heap(&self, sym: &mut Vec<Piece>, scratch: &mut Scratch) {
        let n = sym.len();
        let (prev, next, heap) = (&mut scratch.prev, &mut scratch.next, &mut scratch.heap);
        prev.clear();
        next.clear();
        heap.clear();
        prev.extend((0..n).map(|i| if i == 0 { NONE } else { i as u32 - 1 }));
        next.extend((0..n).map(|i| if i + 1 == n { NONE } else { i as u32 + 1 }));
        let key = |rank: u32, pos: usize| Reverse(((rank as u64) << 32) | pos as u64);
        for i in 0..n - 1 {
            let r = self.rank(sym[i].id, sym[i + 1].id);
            if r != NONE {
                heap.push(key(r, i));
            }
        }
        let mut alive = vec![true; n];
        while let Some(Reverse(k)) = heap.pop() {
            let (rank, pos) = ((k >> 32) as u32, (k & 0xFFFF_FFFF) as usize);
            if !alive[pos] || next[pos] == NONE {
                continue;
            }
            let right = next[pos] as usize;
            // A stale entry: the pair at `pos` is no longer the one this entry was pushed for.
            if self.rank(sym[pos].id, sym[right].id) != rank {
                continue;
            }
            sym[pos] = Piece {
                id: self.merged[rank as usize],
                start: sym[pos].start,
                end: sym[right].end,
            };
            alive[right] = false;
            next[pos] = next[right];
            if next[pos] != NONE {
                prev[next[pos] as usize] = pos as u32;
            }
            if prev[pos] != NONE {
                let p = prev[pos] as usize;
                let r = self.rank(sym[p].id, sym[pos].id);
                if r != NONE {
                    heap.push(key(r, p));
                }
            }
            if next[pos] != NONE {
                let r = self.rank(sym[pos].id, sym[next[pos] as usize].id);
                if r != NONE {
                    heap.push(key(r, pos));
                }
            }
        }
        let mut k = 0;
        sym.retain(|_| {
            k += 1;
            alive[k - 1]
        });
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
pub struct Scratch {
    symbols: Vec<Piece>,
    pair_ranks: Vec<u32>,
    prev: Vec<u32>,
    next: Vec<u32>,
    heap: BinaryHeap<Reverse<u64>>,
    cache: FxHashMap<Box<[u8]>, (u32, u32)>,
    arena: Vec<Piece>,
    pieces: Vec<(usize, usize)>,
}

// ---------------------------------------------------------------------------------------------
// Added tokens

/// One added token as `tokenizers` stores it.
#[derive(Clone, Debug)]
pub struct AddedToken {
    pub id: u32,
    pub content: String,
    pub single_word: bool,
    pub lstrip: bool,
    pub rstrip: bool,
}

/// Finds added tokens leftmost-longest, like the aho-corasick automaton `tokenizers` builds, then
/// applies `single_word`, `lstrip` and `rstrip` exactly as `AddedVocabulary::find_matches`.
pub struct AddedMatcher {
    tokens: Vec<AddedToken>,
    /// Trie over token bytes: node -> sorted (byte, child); node 0 is the root.
    children: Vec<Vec<(u8, u32)>>,
    /// node -> index in `tokens` of the token ending there, or NONE.
    terminal: Vec<u32>,
    first_byte: [bool; 256],
    /// The first byte of every token, when they all share it.
    only_first: Option<u8>,
    word_char: Option<fancy_regex::Regex>,
}

impl AddedMatcher {
    pub fn new(tokens: Vec<AddedToken>) -> Self {
        let mut children: Vec<Vec<(u8, u32)>> = vec![Vec::new()];
        let mut terminal = vec![NONE];
        let mut first_byte = [false; 256];
        for (t, tok) in tokens.iter().enumerate() {
            let bytes = tok.content.as_bytes();
            if bytes.is_empty() {
                continue;
            }
            first_byte[bytes[0] as usize] = true;
            let mut node = 0usize;
            for &b in bytes {
                node = match children[node].binary_search_by_key(&b, |c| c.0) {
                    Ok(k) => children[node][k].1 as usize,
                    Err(k) => {
                        let child = children.len();
                        children[node].insert(k, (b, child as u32));
                        children.push(Vec::new());
                        terminal.push(NONE);
                        child
                    }
                };
            }
            // The same content twice: the first one wins (its pattern id is lower).
            if terminal[node] == NONE {
                terminal[node] = t as u32;
            }
        }
        let word_char = tokens
            .iter()
            .any(|t| t.single_word)
            .then(|| fancy_regex::Regex::new(r"\w").expect("valid regex"));
        let firsts: Vec<u8> = (0..=255u8).filter(|&b| first_byte[b as usize]).collect();
        let only_first = (firsts.len() == 1).then(|| firsts[0]);
        AddedMatcher {
            tokens,
            children,
            terminal,
            first_byte,
            only_first,
            word_char,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.children[0].is_empty()
    }

    /// The longest token starting at `at`, as (end, token index).
    fn longest_at(&self, text: &[u8], at: usize) -> Option<(usize, usize)> {
        let mut node = 0usize;
        let mut best = None;
        for (k, &b) in text[at..].iter().enumerate() {
            match self.children[node].binary_search_by_key(&b, |c| c.0) {
                Ok(i) => node = self.children[node][i].1 as usize,
                Err(_) => break,
            }
            if self.terminal[node] != NONE {
                best = Some((at + k + 1, self.terminal[node] as usize));
            }
        }
        best
    }

    fn is_word_char(&self, c: Option<char>) -> bool {
        match (c, &self.word_char) {
            (Some(c), Some(re)) => re.is_match(c.encode_utf8(&mut [0u8; 4])).unwrap_or(false),
            _ => false,
        }
    }

    /// Split `text` into (Some(id) for an added token | None, start, end) covering all of it.
    pub fn find_matches(&self, text: &str) -> Vec<(Option<u32>, usize, usize)> {
        let mut splits = Vec::new();
        if self.is_empty() {
            if !text.is_empty() {
                splits.push((None, 0, text.len()));
            }
            return splits;
        }
        let bytes = text.as_bytes();
        let mut start_offset = 0;
        let mut at = 0;
        while at < bytes.len() {
            // Skip to the next byte that can start a token (one compare per byte when all
            // tokens start with the same byte, which the compiler vectorizes).
            let skip = match self.only_first {
                Some(first) => bytes[at..].iter().position(|&b| b == first),
                None => bytes[at..]
                    .iter()
                    .position(|&b| self.first_byte[b as usize]),
            };
            match skip {
                Some(k) => at += k,
                None => break,
            }
            let Some((stop0, t)) = self.longest_at(bytes, at) else {
                at += 1;
                continue;
            };
            let (mut start, mut stop) = (at, stop0);
            at = stop0;
            let tok = &self.tokens[t];
            if tok.single_word {
                let before = text[..start].chars().next_back();
                let after = text[stop..].chars().next();
                if self.is_word_char(before) || self.is_word_char(after) {
                    continue;
                }
            }
            if tok.lstrip {
                let trimmed = text[..start].trim_end_matches(char::is_whitespace).len();
                start = trimmed.max(start_offset);
            }
            if tok.rstrip {
                stop +=
                    text[stop..].len() - text[stop..].trim_start_matches(char::is_whitespace).len();
            }
            if start_offset < start {
                splits.push((None, start_offset, start));
            }
            splits.push((Some(tok.id), start, stop));
            start_offset = stop;
        }
        if start_offset != bytes.len() {
            splits.push((None, start_offset, bytes.len()));
        }
        splits
    }
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizers

/// `tokenizers`' `SplitDelimiterBehavior`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    Removed,
    Isolated,
    MergedWithPrevious,
    MergedWithNext,
    Contiguous,
}

impl Behavior {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "Removed" => Behavior::Removed,
            "Isolated" => Behavior::Isolated,
            "MergedWithPrevious" => Behavior::MergedWithPrevious,
            "MergedWithNext" => Behavior::MergedWithNext,
            "Contiguous" => Behavior::Contiguous,
            _ => return None,
        })
    }
}

/// One pre-tokenizer of a (possibly `Sequence`) pre-tokenizer.
pub enum PreStep {
    Split {
        regex: Pretokenizer,
        behavior: Behavior,
        invert: bool,
    },
    /// Must be the last step: the byte-level mapping itself happens inside the model.
    ByteLevel {
        add_prefix_space: bool,
        regex: Option<Pretokenizer>,
    },
}

impl PreStep {
    /// A `Split` pre-tokenizer; `pattern` is a regex, or a literal string when `!is_regex`.
    pub fn split(
        pattern: &str,
        is_regex: bool,
        behavior: &str,
        invert: bool,
    ) -> Result<Self, String> {
        let behavior = Behavior::parse(behavior)
            .ok_or_else(|| format!("unknown Split behavior {behavior:?}"))?;
        let pattern = if is_regex {
            pattern.to_string()
        } else {
            regex_syntax::escape(pattern)
        };
        let regex =
            Pretokenizer::new(&pattern).map_err(|e| format!("Split pattern {pattern:?}: {e}"))?;
        Ok(PreStep::Split {
            regex,
            behavior,
            invert,
        })
    }

    /// A `ByteLevel` pre-tokenizer.
    pub fn byte_level(add_prefix_space: bool, use_regex: bool) -> Self {
        let regex =
            use_regex.then(|| Pretokenizer::new(BYTE_LEVEL_PATTERN).expect("valid pattern"));
        PreStep::ByteLevel {
            add_prefix_space,
            regex,
        }
    }
}

/// Cut `text` into (start, end, is_match) pieces covering all of it, as `Pattern::find_matches`.
fn regex_matches(re: &Pretokenizer, text: &str) -> Result<Vec<(usize, usize, bool)>, String> {
    let mut out = Vec::new();
    if text.is_empty() {
        out.push((0, 0, false));
        return Ok(out);
    }
    let mut prev = 0;
    re.for_each_piece(text, |s, e| {
        if prev != s {
            out.push((prev, s, false));
        }
        out.push((s, e, true));
        prev = e;
    })?;
    if prev != text.len() {
        out.push((prev, text.len(), false));
    }
    Ok(out)
}

/// `NormalizedString::split`: group the pieces by behaviour, dropping removed and empty ones.
fn split_by(
    matches: Vec<(usize, usize, bool)>,
    behavior: Behavior,
    invert: bool,
    out: &mut Vec<(usize, usize)>,
) {
    let base = out.len();
    let mut prev_match = false;
    let pieces = matches.into_iter().map(|(s, e, m)| (s, e, m != invert));
    match behavior {
        Behavior::Isolated => out.extend(pieces.map(|(s, e, _)| (s, e))),
        Behavior::Removed => out.extend(pieces.filter(|p| !p.2).map(|(s, e, _)| (s, e))),
        Behavior::Contiguous => {
            for (s, e, m) in pieces {
                if m == prev_match && out.len() > base {
                    out.last_mut().unwrap().1 = e;
                } else {
                    out.push((s, e));
                }
                prev_match = m;
            }
        }
        Behavior::MergedWithPrevious => {
            for (s, e, m) in pieces {
                if m && !prev_match && out.len() > base {
                    out.last_mut().unwrap().1 = e;
                } else {
                    out.push((s, e));
                }
                prev_match = m;
            }
        }
        Behavior::MergedWithNext => {
            let all: Vec<_> = pieces.collect();
            let mut rev: Vec<(usize, usize)> = Vec::new();
            for &(s, e, m) in all.iter().rev() {
                if m && !prev_match && !rev.is_empty() {
                    rev.last_mut().unwrap().0 = s;
                } else {
                    rev.push((s, e));
                }
                prev_match = m;
            }
            out.extend(rev.into_iter().rev());
        }
    }
    let mut k = base;
    for i in base..out.len() {
        if out[i].0 < out[i].1 {
            out[k] = out[i];
            k += 1;
        }
    }
    out.truncate(k);
}

// ---------------------------------------------------------------------------------------------
// The pipeline

/// Everything of a `tokenizer.json` except the normalizer, post-processor and decoder.
pub struct HfPipeline {
    pub model: HfBpe,
    /// Added tokens matched on the raw text (`normalized: false`).
    pub raw_added: AddedMatcher,
    /// Added tokens matched on the normalized text (their content normalized by the caller).
    pub normalized_added: AddedMatcher,
    pub steps: Vec<PreStep>,
    /// Idle scratch buffers (with their word caches), reused across calls and threads.
    pool: Mutex<Vec<Scratch>>,
}

/// At most this many idle scratch buffers are kept (each holds a word cache).
const POOL_SIZE: usize = 16;

/// Token ids and, when asked for, their byte spans in the encoded text.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub offsets: Vec<(u32, u32)>,
}

impl HfPipeline {
    pub fn new(
        model: HfBpe,
        raw_added: AddedMatcher,
        normalized_added: AddedMatcher,
        steps: Vec<PreStep>,
    ) -> Self {
        HfPipeline {
            model,
            raw_added,
            normalized_added,
            steps,
            pool: Mutex::new(Vec::new()),
        }
    }

    /// Run `f` with a scratch buffer from the pool (a fresh one when all are in use), so that
    /// word caches stay warm across calls; any number of threads may call this at once.
    pub fn with_scratch<R>(&self, f: impl FnOnce(&mut Scratch) -> R) -> R {
        let taken = self.pool.lock().map(|mut p| p.pop()).unwrap_or(None);
        let mut scratch = taken.unwrap_or_default();
        let out = f(&mut scratch);
        if let Ok(mut pool) = self.pool.lock() {
            if pool.len() < POOL_SIZE {
                pool.push(scratch);
            }
        }
        out
    }

    /// Encode `text`. With `raw_stage`, added tokens with `normalized: false` are matched first
    /// (pass false when the caller already cut them out and normalized the rest).
    pub fn encode(
        &self,
        text: &str,
        raw_stage: bool,
        with_offsets: bool,
        scratch: &mut Scratch,
    ) -> Result<Encoded, String> {
        let mut enc = Encoded::default();
        if raw_stage {
            for (id, s, e) in self.raw_added.find_matches(text) {
                self.push_piece(text, s, e, id, with_offsets, scratch, &mut enc)?;
            }
        } else {
            self.encode_normalized(text, 0, with_offsets, scratch, &mut enc)?;
        }
        if with_offsets {
            widen_to_chars(text, &mut enc.offsets);
        }
        Ok(enc)
    }

    #[allow(clippy::too_many_arguments)]
    fn push_piece(
        &self,
        text: &str,
        s: usize,
        e: usize,
        id: Option<u32>,
        with_offsets: bool,
        scratch: &mut Scratch,
        enc: &mut Encoded,
    ) -> Result<(), String> {
        match id {
            Some(id) => {
                enc.ids.push(id);
                if with_offsets {
                    enc.offsets.push((s as u32, e as u32));
                }
                Ok(())
            }
            None => self.encode_normalized(&text[s..e], s, with_offsets, scratch, enc),
        }
    }

    /// Stage 2 onwards on one normalized piece that starts at byte `base` of the encoded text.
    fn encode_normalized(
        &self,
        piece: &str,
        base: usize,
        with_offsets: bool,
        scratch: &mut Scratch,
        enc: &mut Encoded,
    ) -> Result<(), String> {
        for (id, s, e) in self.normalized_added.find_matches(piece) {
            match id {
                Some(id) => {
                    enc.ids.push(id);
                    if with_offsets {
                        enc.offsets.push(((base + s) as u32, (base + e) as u32));
                    }
                }
                None => self.pre_tokenize(&piece[s..e], base + s, 0, with_offsets, scratch, enc)?,
            }
        }
        Ok(())
    }

    /// Run pre-tokenizer steps `step..` on `piece` (at byte `base`), then the model on each word.
    fn pre_tokenize(
        &self,
        piece: &str,
        base: usize,
        step: usize,
        with_offsets: bool,
        scratch: &mut Scratch,
        enc: &mut Encoded,
    ) -> Result<(), String> {
        if piece.is_empty() {
            return Ok(());
        }
        let Some(pre) = self.steps.get(step) else {
            return self.encode_words(
                piece,
                &[(0, piece.len())],
                base,
                false,
                with_offsets,
                scratch,
                enc,
            );
        };
        match pre {
            PreStep::Split {
                regex,
                behavior,
                invert,
            } => {
                let mut parts = Vec::new();
                split_by(regex_matches(regex, piece)?, *behavior, *invert, &mut parts);
                for (s, e) in parts {
                    self.pre_tokenize(
                        &piece[s..e],
                        base + s,
                        step + 1,
                        with_offsets,
                        scratch,
                        enc,
                    )?;
                }
                Ok(())
            }
            PreStep::ByteLevel {
                add_prefix_space,
                regex,
            } => {
                let prefixed;
                let (word_text, virtual_space) = if *add_prefix_space && !piece.starts_with(' ') {
                    prefixed = format!(" {piece}");
                    (prefixed.as_str(), true)
                } else {
                    (piece, false)
                };
                let mut parts = std::mem::take(&mut scratch.pieces);
                parts.clear();
                match regex {
                    Some(re) => {
                        // Isolated: matches and the gaps between them are all words.
                        let mut prev = 0;
                        re.for_each_piece(word_text, |s, e| {
                            if prev != s {
                                parts.push((prev, s));
                            }
                            parts.push((s, e));
                            prev = e;
                        })?;
                        if prev != word_text.len() {
                            parts.push((prev, word_text.len()));
                        }
                    }
                    None => parts.push((0, word_text.len())),
                }
                let r = self.encode_words(
                    word_text,
                    &parts,
                    base,
                    virtual_space,
                    with_offsets,
                    scratch,
                    enc,
                );
                scratch.pieces = parts;
                r
            }
        }
    }

    /// Encode each word `text[s..e]`; offsets map back to the encoded text, where a prepended
    /// space (`virtual_space`) is aligned with the first character, as Hugging Face does.
    #[allow(clippy::too_many_arguments)]
    fn encode_words(
        &self,
        text: &str,
        words: &[(usize, usize)],
        base: usize,
        virtual_space: bool,
        with_offsets: bool,
        scratch: &mut Scratch,
        enc: &mut Encoded,
    ) -> Result<(), String> {
        let mut pieces = Vec::new();
        for &(s, e) in words {
            pieces.clear();
            self.model
                .encode_word(&text.as_bytes()[s..e], scratch, &mut pieces);
            enc.ids.extend(pieces.iter().map(|p| p.id));
            if with_offsets {
                let shift = virtual_space as usize;
                let orig = |i: usize| base + i.saturating_sub(shift);
                enc.offsets.extend(pieces.iter().map(|p| {
                    let (a, b) = (s + p.start as usize, s + p.end as usize);
                    (orig(a) as u32, orig(b - 1) as u32 + 1)
                }));
            }
        }
        Ok(())
    }
}

/// What each id decodes to (before UTF-8 decoding), and which ids are special.
pub struct TokenTable {
    bytes: Vec<Option<Box<[u8]>>>,
    special: Vec<bool>,
    /// Leading and trailing characters that ByteLevel offset trimming drops ('Ġ' or spaces).
    spaces: Vec<(u16, u16)>,
    /// Added tokens with lstrip/rstrip: their token string is the text they matched.
    stripping: Vec<bool>,
}

fn is_trimmed_space(c: char) -> bool {
    c == 'Ġ' || c.is_whitespace()
}

fn space_counts(s: &str) -> (u16, u16) {
    let lead = s.chars().take_while(|&c| is_trimmed_space(c)).count();
    let trail = s.chars().rev().take_while(|&c| is_trimmed_space(c)).count();
    (
        lead.min(u16::MAX as usize) as u16,
        trail.min(u16::MAX as usize) as u16,
    )
}

impl TokenTable {
    /// `entries` are (token string, id, special); later entries override earlier ones with the
    /// same id (pass the model vocab first, then added tokens, as Hugging Face looks them up).
    /// With `byte_level`, strings in the byte-level alphabet decode to their bytes, others to
    /// their UTF-8 (the ByteLevel decoder's rule).
    pub fn new<'a>(entries: impl Iterator<Item = (&'a str, u32, bool)>, byte_level: bool) -> Self {
        let mut table = TokenTable {
            bytes: Vec::new(),
            special: Vec::new(),
            spaces: Vec::new(),
            stripping: Vec::new(),
        };
        let mut buf = Vec::new();
        for (s, id, special) in entries {
            let id = id as usize;
            if id >= table.bytes.len() {
                table.bytes.resize(id + 1, None);
                table.special.resize(id + 1, false);
                table.spaces.resize(id + 1, (0, 0));
                table.stripping.resize(id + 1, false);
            }
            let bytes: &[u8] = if byte_level && decode_byte_level_into(s, &mut buf) {
                &buf
            } else {
                s.as_bytes()
            };
            table.bytes[id] = Some(bytes.into());
            table.special[id] = special;
            table.spaces[id] = space_counts(s);
        }
        table
    }

    /// Mark an added token with lstrip or rstrip (see `stripping`).
    pub fn set_stripping(&mut self, id: u32) {
        if let Some(flag) = self.stripping.get_mut(id as usize) {
            *flag = true;
        }
    }

    /// `tokenizers`' ByteLevel `process_offsets` on a whole encoding: take the byte `offsets` of
    /// `ids` in `text` to character offsets without the tokens' leading/trailing spaces (kept
    /// for the first token's single prefix space when `add_prefix_space`).
    pub fn trim_offsets(
        &self,
        text: &str,
        ids: &[u32],
        offsets: &mut [(u32, u32)],
        add_prefix_space: bool,
    ) {
        let counts: Vec<(u16, u16)> = ids
            .iter()
            .zip(offsets.iter())
            .map(|(&id, &(s, e))| match self.stripping.get(id as usize) {
                Some(true) => space_counts(&text[s as usize..e as usize]),
                _ => self.spaces.get(id as usize).copied().unwrap_or((0, 0)),
            })
            .collect();
        byte_to_char_offsets(text, offsets);
        for (i, (&(lead, trail), (start, end))) in counts.iter().zip(offsets.iter_mut()).enumerate()
        {
            let mut lead = lead as u32;
            let trail = trail as u32;
            if lead == 1 && add_prefix_space && (i == 0 || *start == 0) {
                lead = 0;
            }
            if lead > 0 {
                *start = (*start + lead).min(*end);
            }
            if trail > 0 && *end >= trail {
                *end = (*end - trail).max(*start);
            }
        }
    }

    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        self.bytes.get(id as usize).and_then(|b| b.as_deref())
    }

    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(false)
    }

    /// Append the bytes of `ids` to `out`; Err(id) for an id with no token.
    pub fn decode_into(
        &self,
        ids: &[u32],
        skip_special: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), u32> {
        for &id in ids {
            let b = self.token_bytes(id).ok_or(id)?;
            if !(skip_special && self.special[id as usize]) {
                out.extend_from_slice(b);
            }
        }
        Ok(())
    }
}

/// Widen byte spans to character boundaries of `text`.
fn widen_to_chars(text: &str, offsets: &mut [(u32, u32)]) {
    if text.is_ascii() {
        return;
    }
    for (s, e) in offsets.iter_mut() {
        let (mut a, mut b) = (*s as usize, *e as usize);
        while a > 0 && !text.is_char_boundary(a) {
            a -= 1;
        }
        while b < text.len() && !text.is_char_boundary(b) {
            b += 1;
        }
        *s = a as u32;
        *e = b as u32;
    }
}

/// Convert byte offsets in `text` (on character boundaries) to character offsets, in place.
pub fn byte_to_char_offsets(text: &str, offsets: &mut [(u32, u32)]) {
    if text.is_ascii() {
        return;
    }
    let mut index = vec![0u32; text.len() + 1];
    let mut n = 0u32;
    for (i, c) in text.char_indices() {
        for k in 0..c.len_utf8() {
            index[i + k] = n;
        }
        n += 1;
    }
    index[text.len()] = n;
    for (s, e) in offsets.iter_mut() {
        *s = index[*s as usize];
        *e = index[*e as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn byte_level(s: &[u8]) -> String {
        let t = byte_level_chars();
        s.iter().map(|&b| t[b as usize]).collect()
    }

    /// A byte-level model over all 256 bytes plus the given merges.
    fn model(merges: &[(&str, &str)], ignore_merges: bool) -> HfBpe {
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

    fn ids(m: &HfBpe, word: &str) -> Vec<u32> {
        let mut out = Vec::new();
        m.encode_word(word.as_bytes(), &mut Scratch::default(), &mut out);
        out.iter().map(|p| p.id).collect()
    }

    #[test]
    fn merges_txt_lines_and_errors() {
        let (m, lines) = parse_merges_txt("#version: 0.2\na b\r\nab c\n").unwrap();
        assert_eq!(m, vec![("a".into(), "b".into()), ("ab".into(), "c".into())]);
        assert_eq!(lines, vec![2, 3]);
        assert_eq!(parse_merges_txt("").unwrap().0, vec![]);
        let err = parse_merges_txt("#version\na b\nabc\n").unwrap_err();
        assert!(
            err.starts_with("line 3: a merge must be two tokens"),
            "{err}"
        );
        assert!(parse_merges_txt("a b c").is_err());
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
    fn trim_offsets_drops_spaces_in_characters() {
        // ids: 0 = "Ġa" (byte-level " a"), 1 = added "  " (spaces), 2 = "é".
        let mut table = TokenTable::new(
            [("Ġa", 0, false), ("  ", 1, false), ("é", 2, false)].into_iter(),
            true,
        );
        let text = "é a  ";
        let mut offs = vec![(0, 2), (2, 4), (4, 6)];
        table.trim_offsets(text, &[2, 0, 1], &mut offs, false);
        assert_eq!(offs, vec![(0, 1), (2, 3), (5, 5)]);
        // A stripping token's string is the text it matched.
        table.set_stripping(2);
        let mut offs = vec![(0, 3)];
        table.trim_offsets(" é", &[2], &mut offs, false);
        assert_eq!(offs, vec![(1, 2)]);
    }

    #[test]
    fn byte_level_alphabet_is_gpt2s() {
        let t = byte_level_chars();
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert_eq!(t[b'\n' as usize], 'Ċ');
        assert_eq!(t[b'a' as usize], 'a');
        assert_eq!(t[0], 'Ā');
        assert_eq!(decode_byte_level("ĠhelloĊ").unwrap(), b" hello\n");
        assert_eq!(decode_byte_level("  "), None);
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
            m.merge_scan(&mut scan, &mut ranks);
            let mut heap = Vec::new();
            m.initial_symbols(word.as_bytes(), &mut heap);
            m.merge_heap(&mut heap, &mut Scratch::default());
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

    fn added(id: u32, content: &str) -> AddedToken {
        AddedToken {
            id,
            content: content.into(),
            single_word: false,
            lstrip: false,
            rstrip: false,
        }
    }

    #[test]
    fn added_tokens_leftmost_longest_with_strip_flags() {
        let m = AddedMatcher::new(vec![added(1, "  "), added(2, "   "), added(3, "<s>")]);
        assert_eq!(
            m.find_matches("a     b<s>"),
            vec![
                (None, 0, 1),
                (Some(2), 1, 4),
                (Some(1), 4, 6),
                (None, 6, 7),
                (Some(3), 7, 10)
            ]
        );
        let mut t = added(3, "<s>");
        t.lstrip = true;
        t.rstrip = true;
        let m = AddedMatcher::new(vec![t]);
        assert_eq!(
            m.find_matches("a  <s>  b"),
            vec![(None, 0, 1), (Some(3), 1, 8), (None, 8, 9)]
        );
        let mut t = added(4, "ab");
        t.single_word = true;
        let m = AddedMatcher::new(vec![t]);
        assert_eq!(
            m.find_matches("xab ab"),
            vec![(None, 0, 4), (Some(4), 4, 6)]
        );
    }

    #[test]
    fn split_behaviors() {
        let m = vec![(0, 1, false), (1, 2, true), (2, 4, false), (4, 5, true)];
        let run = |b, inv| {
            let mut out = Vec::new();
            split_by(m.clone(), b, inv, &mut out);
            out
        };
        assert_eq!(
            run(Behavior::Isolated, false),
            vec![(0, 1), (1, 2), (2, 4), (4, 5)]
        );
        assert_eq!(run(Behavior::Removed, false), vec![(0, 1), (2, 4)]);
        assert_eq!(run(Behavior::Removed, true), vec![(1, 2), (4, 5)]);
        assert_eq!(
            run(Behavior::MergedWithPrevious, false),
            vec![(0, 2), (2, 5)]
        );
        assert_eq!(
            run(Behavior::MergedWithNext, false),
            vec![(0, 1), (1, 4), (4, 5)]
        );
        assert_eq!(
            run(Behavior::Contiguous, false),
            vec![(0, 1), (1, 2), (2, 4), (4, 5)]
        );
    }

    #[test]
    fn pipeline_offsets_and_prefix_space() {
        let model = model(&[(" ", "w"), (" w", "o")], false);
        let pipe = HfPipeline::new(
            model,
            AddedMatcher::new(vec![added(999, "<|e|>")]),
            AddedMatcher::new(vec![]),
            vec![PreStep::byte_level(true, true)],
        );
        let mut sc = Scratch::default();
        let enc = pipe.encode("wo<|e|>é", true, true, &mut sc).unwrap();
        assert_eq!(enc.ids, vec![257, 999, b' ' as u32, 0xC3, 0xA9]);
        // The prepended space is aligned with the first character of its piece; both halves
        // of "é" cover the whole character.
        assert_eq!(enc.offsets, vec![(0, 2), (2, 7), (7, 9), (7, 9), (7, 9)]);
        let mut offs = enc.offsets.clone();
        byte_to_char_offsets("wo<|e|>é", &mut offs);
        assert_eq!(offs[4], (7, 8));
    }
}
