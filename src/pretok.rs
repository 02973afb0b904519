//! Pre-tokenization: splitting text into the pieces that BPE encodes independently.
//!
//! The known OpenAI patterns get hand-written scanners (see `Scanner::*_piece`); any other pattern
//! runs on fancy-regex. Every scanner returns exactly the pieces fancy-regex returns for its
//! pattern (checked piece by piece against fancy-regex on the shared corpora, edge cases and
//! 200k random strings per family in the tests below), but in one forward pass: O(n) time, no
//! recursion, no allocation, and an ASCII fast path (runs of letters, digits and spaces go eight
//! bytes at a time); UTF-8 is decoded only for bytes >= 0x80. Character classes come from `crate::unicode`, which reads them out of
//! regex-syntax, the library fancy-regex builds its own classes with.
//!
//! How a scanner derives from a pattern: at each position the alternatives are tried in order
//! (leftmost-first), and inside an alternative a backtracking engine explores choices in priority
//! order (greedy = longest first, `?` = take first). For these patterns that first successful
//! choice can be computed directly from a few runs of character classes, as each `*_piece`
//! function explains. The only look-around, `\s+(?!\S)`, means: a whitespace run followed by a
//! non-space loses its last *character* (not byte) to the next piece, and a run reaching the
//! end of the text is taken whole.

use fancy_regex::Regex;

use crate::unicode::{ClassTable, CLASSES, LETTER, LOWER, MULTIBYTE, NUMBER, OTHER, SPACE, UPPER};

/// The exact `pat_str` values of tiktoken 0.14.
pub const R50K_PATTERN: &str =
    r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s";
pub const CL100K_PATTERN: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";
pub const O200K_PATTERN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"\p{N}{1,3}",
    "|",
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
    "|",
    r"\s*[\r\n]+",
    "|",
    r"\s+(?!\S)",
    "|",
    r"\s+",
);

/// The original GPT-2 pattern (`encoder.py`), which Hugging Face's ByteLevel pre-tokenizer uses.
///
/// Under fancy-regex it splits every text exactly as `R50K_PATTERN` does, so it gets the same
/// scanner:
/// * the seven contractions are case-sensitive in both and pairwise exclusive (their second
///   letters differ and none is a prefix of another), so their order is irrelevant;
/// * ` ?\p{L}+` vs ` ?\p{L}++` (same for `\p{N}`, `[^\s\p{L}\p{N}]`): the run ends its
///   alternative and nothing after it can fail, so the greedy engine never backtracks into it;
/// * `\s+(?!\S)|\s+` vs `\s++$|\s+(?!\S)|\s`, at a whitespace run of `k` chars from `p`: if the
///   run ends the text, both take it whole (`(?!\S)` holds at the end; `\s++$` matches); if a
///   non-space follows and `k >= 2`, both give the run minus its last char (`\s++$` fails,
///   `\s+(?!\S)` backtracks one char); if `k == 1`, `\s+(?!\S)` fails and `\s+` resp. `\s` take
///   the one char.
///
/// (Hugging Face runs it on Oniguruma, whose Unicode tables may be of another version; here it
/// means what it means to fancy-regex.) `tests::pretok_gpt2_original_pattern_is_r50k` checks it.
pub const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// A pattern compiled for splitting.
pub enum Pretokenizer {
    /// Hand-written scanner for `R50K_PATTERN` (and the equivalent `GPT2_PATTERN`).
    R50k,
    /// Hand-written scanner for `CL100K_PATTERN`.
    Cl100k,
    /// Hand-written scanner for `O200K_PATTERN`.
    O200k,
    /// Any other pattern, run by fancy-regex.
    Regex(Box<Regex>),
}

impl Pretokenizer {
    /// Compile `pattern`; the known OpenAI patterns (exact string match) get their scanner.
    pub fn new(pattern: &str) -> Result<Self, String> {
        // Build the class table now (a few ms, once per process) rather than in the first split.
        std::sync::LazyLock::force(&CLASSES);
        Ok(match pattern {
            R50K_PATTERN | GPT2_PATTERN => Pretokenizer::R50k,
            CL100K_PATTERN => Pretokenizer::Cl100k,
            O200K_PATTERN => Pretokenizer::O200k,
            _ => {
                let regex = Regex::new(pattern).map_err(|e| format!("invalid pattern: {e}"))?;
                Pretokenizer::Regex(Box::new(regex))
            }
        })
    }

    /// Whether `pattern` is split by a hand-written scanner rather than by fancy-regex.
    pub fn is_scanner(&self) -> bool {
        !matches!(self, Pretokenizer::Regex(_))
    }

    /// Call `f(start, end)` for each piece of `text`, in order. Pieces cover matched text only
    /// (for the OpenAI patterns that is all of `text`). Errors are regex runtime errors (only the
    /// fancy-regex fallback has any).
    pub fn for_each_piece(
        &self,
        text: &str,
        mut f: impl FnMut(usize, usize),
    ) -> Result<(), String> {
        let scanner = || Scanner {
            s: text.as_bytes(),
            t: &CLASSES,
        };
        match self {
            Pretokenizer::R50k => scanner().run(f, Scanner::r50k_piece),
            Pretokenizer::Cl100k => scanner().run(f, Scanner::cl100k_piece),
            Pretokenizer::O200k => scanner().run(f, Scanner::o200k_piece),
            Pretokenizer::Regex(re) => {
                for m in re.find_iter(text) {
                    let m = m.map_err(|e| format!("regex error while tokenizing: {e}"))?;
                    f(m.start(), m.end());
                }
            }
        }
        Ok(())
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x80 * ONES;

/// Bit 7 of each byte of the result is set iff that byte of `word` is ASCII and in `lo..=hi`.
/// (Each byte is masked to 7 bits first, so the additions cannot carry into the next byte.)
#[inline(always)]
fn bytes_in_range(word: u64, lo: u8, hi: u8) -> u64 {
    let low7 = word & (0x7F * ONES);
    let at_least_lo = low7 + (0x80 - lo as u64) * ONES;
    let above_hi = low7 + (0x7F - hi as u64) * ONES;
    at_least_lo & !above_hi & !word & HIGH_BITS
}

/// Bit 7 of each byte set iff that byte is an ASCII char of class `mask`; for classes without a
/// SWAR test, no byte (the caller then goes char by char).
#[inline(always)]
fn ascii_class_bytes(word: u64, mask: u8) -> u64 {
    match mask {
        LETTER => bytes_in_range(word | (0x20 * ONES), b'a', b'z'),
        LOWER => bytes_in_range(word, b'a', b'z'),
        UPPER => bytes_in_range(word, b'A', b'Z'),
        NUMBER => bytes_in_range(word, b'0', b'9'),
        _ => 0,
    }
}

/// A maximal run of `\s` characters.
struct SpaceRun {
    /// Byte offset just past the run.
    end: usize,
    /// Byte offset of the run's last character.
    last_start: usize,
    /// Byte offset just past the run's last `\r` or `\n`; 0 if it has none.
    after_newline: usize,
}

/// A text being split; every method takes and returns byte offsets on char boundaries.
struct Scanner<'a> {
    s: &'a [u8],
    t: &'static ClassTable,
}

impl Scanner<'_> {
    /// Emit the pieces that `piece(p)` (the end of the piece starting at `p`) cuts.
    #[inline(always)]
    fn run(&self, mut f: impl FnMut(usize, usize), piece: impl Fn(&Self, usize) -> usize) {
        let mut p = 0;
        while p < self.s.len() {
            let end = piece(self, p);
            // Cheap, and turns a scanner bug into a panic instead of an endless loop.
            assert!(end > p, "pre-tokenizer bug: empty piece at byte {p}");
            f(p, end);
            p = end;
        }
    }

    /// Class flags and UTF-8 length of the char at `i`; `(0, 0)` at the end of the text.
    #[inline(always)]
    fn at(&self, i: usize) -> (u8, usize) {
        if i < self.s.len() {
            self.t.at(self.s, i)
        } else {
            (0, 0)
        }
    }

    /// End of the maximal run, from `i`, of chars having any flag of `mask`.
    #[inline(always)]
    fn run_of<const MASK: u8>(&self, mut i: usize) -> usize {
        let s = self.s;
        while i < s.len() {
            if s[i] >= 0x80 {
                // A stretch of non-ASCII chars (CJK, Hangul, ...): decode them one by one.
                let (flags, len) = self.t.at(s, i);
                if flags & MASK == 0 {
                    return i;
                }
                i += len;
                continue;
            }
            // ASCII: eight bytes at a time where the class has a SWAR test, so that the end of
            // a word costs no misprediction of a per-byte loop's exit.
            while i + 8 <= s.len() {
                let word = u64::from_le_bytes(s[i..i + 8].try_into().unwrap());
                let stop = !ascii_class_bytes(word, MASK) & HIGH_BITS;
                if stop != 0 {
                    i += (stop.trailing_zeros() / 8) as usize;
                    break;
                }
                i += 8;
            }
            if i < s.len() && s[i] < 0x80 {
                if self.t.byte(s[i]) & MASK == 0 {
                    return i;
                }
                i += 1;
            }
        }
        i
    }

    /// End of the run, from `i`, of at most three `\p{N}` chars (`\p{N}{1,3}`).
    #[inline(always)]
    fn up_to_three_numbers(&self, mut i: usize) -> usize {
        for _ in 0..3 {
            let (flags, len) = self.at(i);
            if flags & NUMBER == 0 {
                break;
            }
            i += len;
        }
        i
    }

    /// End of the run, from `i`, of bytes in `set` (an ASCII-only class such as `[\r\n]`).
    #[inline(always)]
    fn ascii_run(&self, mut i: usize, set: &[u8]) -> usize {
        while i < self.s.len() && set.contains(&self.s[i]) {
            i += 1;
        }
        i
    }

    /// The maximal `\s` run starting at `i` (which must be a space).
    #[inline(always)]
    fn space_run(&self, i: usize) -> SpaceRun {
        let s = self.s;
        let (mut j, mut last_start, mut after_newline) = (i, i, 0);
        while j < s.len() {
            let b = s[j];
            if b == b' ' && j + 9 <= s.len() {
                // Indentation: skip spaces eight at a time.
                j += 1;
                while j + 8 <= s.len() {
                    let word = u64::from_le_bytes(s[j..j + 8].try_into().unwrap());
                    let stop = !bytes_in_range(word ^ (0x20 * ONES), 0, 0) & HIGH_BITS;
                    if stop != 0 {
                        j += (stop.trailing_zeros() / 8) as usize;
                        break;
                    }
                    j += 8;
                }
                last_start = j - 1;
                continue;
            }
            let flags = self.t.byte(b);
            let len = if flags & SPACE != 0 {
                if b == b'\n' || b == b'\r' {
                    after_newline = j + 1;
                }
                1
            } else if flags == MULTIBYTE {
                let (flags, len) = self.t.at(s, j);
                if flags & SPACE == 0 {
                    break;
                }
                len
            } else {
                break;
            };
            last_start = j;
            j += len;
        }
        SpaceRun {
            end: j,
            last_start,
            after_newline,
        }
    }

    /// End of the contraction `'(?:[sdmt]|ll|ve|re)` at `i` (where `s[i] == b'\''`), `(?i)` if
    /// `fold`; `i` if there is none. The alternatives differ in their first letter, so at most
    /// one can match and their order does not matter.
    #[inline]
    fn contraction(&self, i: usize, fold: bool) -> usize {
        let letter = |j: usize| -> (u8, usize) {
            if j >= self.s.len() {
                (0, 0)
            } else if fold {
                self.t.contraction_letter(self.s, j)
            } else {
                (self.s[j], 1)
            }
        };
        let (first, len) = letter(i + 1);
        let after_first = i + 1 + len;
        match first {
            b's' | b'd' | b'm' | b't' => after_first,
            b'l' | b'v' | b'r' => {
                let (second, len) = letter(after_first);
                let wanted = if first == b'l' { b'l' } else { b'e' };
                if second == wanted {
                    after_first + len
                } else {
                    i
                }
            }
            _ => i,
        }
    }

    /// The whitespace alternatives `\s++$|\s+(?!\S)|\s` of r50k: a run reaching the end of the
    /// text is taken whole; a longer run followed by a non-space leaves its last char to the
    /// next piece (which then is e.g. " word"); a single space is taken alone.
    #[inline(always)]
    fn spaces_without_newline_rule(&self, p: usize) -> usize {
        let run = self.space_run(p);
        if run.end == self.s.len() || run.last_start == p {
            run.end
        } else {
            run.last_start
        }
    }

    /// `'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s`
    ///
    /// L, N, \s and "other" partition the chars, so after the contractions the class of the
    /// first char (or, for a leading ' ', of the second) picks the one run that can match; the
    /// optional space is given back only when no run follows it, and then nothing but the
    /// whitespace alternatives can match.
    #[inline(always)]
    fn r50k_piece(&self, p: usize) -> usize {
        let b = self.s[p];
        if b == b'\'' {
            let end = self.contraction(p, false);
            if end > p {
                return end;
            }
        }
        let (mut flags, mut from) = (self.at(p).0, p);
        if b == b' ' {
            let next = self.at(p + 1).0;
            if next & (LETTER | NUMBER | OTHER) != 0 {
                (flags, from) = (next, p + 1);
            }
        }
        if flags & LETTER != 0 {
            self.run_of::<LETTER>(from)
        } else if flags & NUMBER != 0 {
            self.run_of::<NUMBER>(from)
        } else if flags & OTHER != 0 {
            self.run_of::<OTHER>(from)
        } else {
            self.spaces_without_newline_rule(p)
        }
    }

    /// `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+`
    /// `|\s++$|\s*[\r\n]|\s+(?!\S)|\s`
    ///
    /// A letter run may take one leading char that is neither letter, number, `\r` nor `\n`
    /// (so also a space, a tab or punctuation); numbers go in threes; `\s*[\r\n]` backtracks
    /// the greedy `\s*` to the last `\r`/`\n` of the whitespace run.
    #[inline(always)]
    fn cl100k_piece(&self, p: usize) -> usize {
        let b = self.s[p];
        if b == b'\'' {
            let end = self.contraction(p, true);
            if end > p {
                return end;
            }
        }
        let (flags, len) = self.at(p);
        if flags & LETTER != 0 {
            return self.run_of::<LETTER>(p);
        }
        if flags & NUMBER != 0 {
            return self.up_to_three_numbers(p);
        }
        // Now `p` holds "other" or a space: a prefix for a letter run unless it is \r or \n.
        if b != b'\r' && b != b'\n' && self.at(p + len).0 & LETTER != 0 {
            return self.run_of::<LETTER>(p + len);
        }
        let other_from = if flags & OTHER != 0 {
            Some(p)
        } else if b == b' ' && self.at(p + 1).0 & OTHER != 0 {
            Some(p + 1)
        } else {
            None
        };
        if let Some(from) = other_from {
            return self.ascii_run(self.run_of::<OTHER>(from), b"\r\n");
        }
        let run = self.space_run(p);
        if run.end == self.s.len() {
            run.end // \s++$
        } else if run.after_newline != 0 {
            run.after_newline // \s*[\r\n]
        } else if run.last_start > p {
            run.last_start // \s+(?!\S)
        } else {
            run.end // \s
        }
    }

    /// o200k's first alternative without its prefix and suffix, `U*W+` from `q`, with
    /// U = `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]` and W = `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`.
    ///
    /// U and W overlap in Lm, Lo and M ("both"). The greedy `U*` takes the maximal U run
    /// `q..r`; if the char at `r` is in W (it can only be Ll), `W+` takes the maximal W run from
    /// `r`. Otherwise the engine gives back U chars one at a time until the next char is in W,
    /// i.e. until just before the last "both" char of the run; `W+` then takes that one char
    /// (the chars after it are Lu/Lt, not W). With no "both" char the alternative fails.
    #[inline(always)]
    fn o200k_upper_then_lower(&self, q: usize) -> Option<usize> {
        let (mut i, mut after_both) = (q, None);
        let after_upper = loop {
            let (flags, len) = self.at(i);
            if flags & UPPER == 0 {
                break flags;
            }
            i += len;
            if flags & LOWER != 0 {
                after_both = Some(i);
            }
        };
        if after_upper & LOWER != 0 {
            Some(self.run_of::<LOWER>(i))
        } else {
            after_both
        }
    }

    /// o200k's second alternative without prefix and suffix, `U+W*` from `q`: greedy and
    /// nothing after it can fail, so the maximal U run, then the maximal W run.
    #[inline(always)]
    fn o200k_upper_word(&self, q: usize) -> Option<usize> {
        if self.at(q).0 & UPPER == 0 {
            return None;
        }
        Some(self.run_of::<LOWER>(self.run_of::<UPPER>(q)))
    }

    /// `[^\r\n\p{L}\p{N}]?U*W+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?U+W*(?i:...)?`
    /// `|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+` (U, W as above).
    ///
    /// No possessives and no `\s++$` here: on a long whitespace run a backtracking engine
    /// stacks one frame per char (fancy-regex gives up, and tiktoken panics, at about a million
    /// spaces), but what the pattern *means* is plain: `\s*[\r\n]+` takes the run up to its
    /// last `\r`/`\n` (from there `[\r\n]+` cannot extend, the next char being a non-newline
    /// or the end of the run); otherwise `\s+(?!\S)` takes the run whole at the end of the
    /// text, or minus its last char before a non-space; a lone space before a non-space falls
    /// to `\s+`. The scanner computes that from one pass over the run.
    ///
    /// For the letter alternatives the engine tries "with prefix" before "without", and a
    /// mark (M) is both a possible prefix and a U/W char, so both orders are tried literally.
    /// Every letter is Lu, Ll, Lt, Lm or Lo, so one of the two alternatives takes it.
    #[inline(always)]
    fn o200k_piece(&self, p: usize) -> usize {
        let b = self.s[p];
        let (flags, len) = self.at(p);
        let prefixable = flags & (LETTER | NUMBER) == 0 && b != b'\r' && b != b'\n';
        // The engine's order: first alternative with, then without the prefix; then the second.
        let mut word = None;
        if prefixable {
            word = self.o200k_upper_then_lower(p + len);
        }
        if word.is_none() && flags & (UPPER | LOWER) != 0 {
            word = self.o200k_upper_then_lower(p);
        }
        if word.is_none() && prefixable {
            word = self.o200k_upper_word(p + len);
        }
        if word.is_none() && flags & UPPER != 0 {
            word = self.o200k_upper_word(p);
        }
        if let Some(end) = word {
            if end < self.s.len() && self.s[end] == b'\'' {
                return self.contraction(end, true);
            }
            return end;
        }
        if flags & NUMBER != 0 {
            return self.up_to_three_numbers(p);
        }
        let other_from = if flags & OTHER != 0 {
            Some(p)
        } else if b == b' ' && self.at(p + 1).0 & OTHER != 0 {
            Some(p + 1)
        } else {
            None
        };
        if let Some(from) = other_from {
            return self.ascii_run(self.run_of::<OTHER>(from), b"\r\n/");
        }
        let run = self.space_run(p);
        if run.after_newline != 0 {
            run.after_newline // \s*[\r\n]+
        } else if run.end == self.s.len() || run.last_start == p {
            run.end // \s+(?!\S) at the end of the text, or \s+
        } else {
            run.last_start // \s+(?!\S)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Full-size checks need an optimized build (`cargo test --release`, as CI should run them);
    /// a debug build checks a tenth of the random strings and 300 KB of each corpus.
    const THOROUGH: bool = !cfg!(debug_assertions);

    const FAMILIES: [(&str, &str); 3] = [
        ("r50k", R50K_PATTERN),
        ("cl100k", CL100K_PATTERN),
        ("o200k", O200K_PATTERN),
    ];

    fn pieces(pre: &Pretokenizer, text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        pre.for_each_piece(text, |a, b| out.push((a, b))).unwrap();
        out
    }

    fn regex_pieces(re: &Regex, text: &str) -> Vec<(usize, usize)> {
        re.find_iter(text)
            .map(|m| {
                let m = m.unwrap_or_else(|e| panic!("fancy-regex failed on {text:?}: {e}"));
                (m.start(), m.end())
            })
            .collect()
    }

    /// The pieces as strings, for readable failures.
    fn texts(text: &str, pieces: &[(usize, usize)]) -> Vec<String> {
        pieces
            .iter()
            .map(|&(a, b)| text[a..b].to_string())
            .collect()
    }

    /// One family's scanner next to fancy-regex running the same pattern.
    struct Pair {
        name: &'static str,
        scanner: Pretokenizer,
        regex: Regex,
    }

    impl Pair {
        fn new(name: &'static str, pattern: &str) -> Pair {
            let scanner = Pretokenizer::new(pattern).unwrap();
            assert!(scanner.is_scanner(), "{name} did not get its scanner");
            Pair {
                name,
                scanner,
                regex: Regex::new(pattern).unwrap(),
            }
        }

        fn all() -> Vec<Pair> {
            FAMILIES.iter().map(|&(n, p)| Pair::new(n, p)).collect()
        }

        fn check(&self, text: &str) {
            let ours = pieces(&self.scanner, text);
            let theirs = regex_pieces(&self.regex, text);
            if ours != theirs {
                let i = ours.iter().zip(&theirs).take_while(|(a, b)| a == b).count();
                let from = ours.get(i.saturating_sub(2)).map_or(0, |p| p.0);
                panic!(
                    "{}: pieces differ at piece {i} (byte {from}) of {:?}\n scanner: {:?}\n regex:   {:?}",
                    self.name,
                    &text[from..text.len().min(from + 200)],
                    texts(text, &ours[i.saturating_sub(2)..ours.len().min(i + 4)]),
                    texts(text, &theirs[i.saturating_sub(2)..theirs.len().min(i + 4)]),
                );
            }
        }
    }

    fn corpora_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora")
    }

    /// The longest prefix of `text` of at most `max` bytes.
    fn prefix(text: &str, max: usize) -> &str {
        let mut cut = text.len().min(max);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        &text[..cut]
    }

    /// The shared corpora (cut to `max_bytes` each), or none (with a note) where absent.
    fn corpora(max_bytes: usize) -> Vec<(String, String)> {
        let dir = corpora_dir();
        let mut out = Vec::new();
        for name in ["en", "en_sotu", "ko", "ja", "zh", "code"] {
            let path = dir.join(format!("{name}.txt"));
            match std::fs::read_to_string(&path) {
                Ok(text) => out.push((name.to_string(), prefix(&text, max_bytes).to_string())),
                Err(e) => eprintln!("note: skipping corpus {}: {e}", path.display()),
            }
        }
        out
    }

    #[test]
    fn pretok_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Pretokenizer>();
    }

    #[test]
    fn pretok_other_patterns_use_fancy_regex() {
        let pre = Pretokenizer::new(r"\w+|\s+").unwrap();
        assert!(!pre.is_scanner());
        assert_eq!(pieces(&pre, "ab  c"), vec![(0, 2), (2, 4), (4, 5)]);
        let err = Pretokenizer::new(r"(").err().unwrap();
        assert!(err.starts_with("invalid pattern"), "{err}");
    }

    #[test]
    fn pretok_every_letter_is_upper_or_lower() {
        // o200k_piece relies on it: a letter always starts one of the two word alternatives.
        for c in (0..0x11_0000u32).filter_map(char::from_u32) {
            let flags = CLASSES.of(c);
            if flags & LETTER != 0 {
                assert_ne!(flags & (UPPER | LOWER), 0, "U+{:04X}", c as u32);
            }
        }
    }

    #[test]
    fn pretok_gpt2_original_pattern_is_r50k() {
        let pre = Pretokenizer::new(GPT2_PATTERN).unwrap();
        assert!(matches!(pre, Pretokenizer::R50k));
        let pair = Pair {
            name: "gpt2-original",
            scanner: pre,
            regex: Regex::new(GPT2_PATTERN).unwrap(),
        };
        for text in edge_cases() {
            pair.check(&text);
        }
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..if THOROUGH { 50_000 } else { 5_000 } {
            pair.check(&rng.text(64));
        }
        for (_, text) in corpora(300_000) {
            pair.check(&text);
        }
    }

    fn edge_cases() -> Vec<String> {
        let mut cases: Vec<String> = [
            "",
            "a",
            " ",
            "'",
            "''",
            "'s",
            "'S",
            "'ll",
            "'LL",
            "'lL",
            "'Re",
            "'ve'd",
            "'x",
            "'ſ",
            "don't",
            "DON'T",
            "I'M here, he'LL go; she'D've",
            "ʼs 's 'ſ 'K",
            "dog'ſ DOG'ſx x'\u{212a} I'\u{17f}\u{17f}",
            "A'S a'LL \u{301}'re 中've ǅ'd",
            "'\u{301}s x' s",
            "hello world",
            "Hello, World!",
            "today\n \n",
            "today\n  \n",
            "today\n\n\n  x",
            "a\r\nb\r\n\r\n c",
            "\r\n\r\n",
            " \r \n \r\n ",
            "trailing   ",
            "trailing \t\n ",
            "   leading",
            "  \tword",
            " \u{3000}word",
            "\u{3000}\u{3000}漢字",
            "a\u{a0}\u{a0}b",
            "a\u{2028}b\u{2028}\u{2028}",
            "x\u{85}\u{85}y\u{85}",
            "cafe\u{301} e\u{301}\u{301}! \u{301}A",
            "\u{301}\u{301}ABC",
            "!\u{301}",
            "\u{301}AB",
            " \u{301}AB",
            "1 12 123 1234 12345 123456 1234567",
            "x1234567y",
            "٣٤٥٦ ½¾ ⅫⅫ",
            "a/b //c ?/\n/ ./\r\n",
            "https://example.com/path?q=1",
            "漢字かな交じり文。",
            "한국어 텍스트입니다.",
            "ภาษาไทย",
            "👨\u{200d}👩\u{200d}👧\u{200d}👦 family 🇫🇷",
            "ǅungla ʰa ǅA AǅB Ǆǅǆ",
            "ABCdef ABC DEFg AbC",
            "中A 中a A中",
            "\t\t\tx",
            "^^^ ^^^",
            "  ",
            "\n",
            "x  ",
            " ' 's ' ",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for n in 1..=7 {
            cases.push("9".repeat(n));
            cases.push(format!("a{}b", "9".repeat(n)));
        }
        for ch in [
            "a", " ", "\n", "^", "0", "\u{3000}", "\t", "A", "\u{301}", "é",
        ] {
            for n in [1, 2, 3, 5, 100, 1000] {
                cases.push(ch.repeat(n));
                cases.push(format!("a{}", ch.repeat(n)));
                cases.push(format!("{}a", ch.repeat(n)));
            }
        }
        cases
    }

    #[test]
    fn pretok_edge_cases_match_regex() {
        for pair in Pair::all() {
            for text in edge_cases() {
                pair.check(&text);
            }
        }
    }

    #[test]
    fn pretok_known_splits() {
        let split = |pattern: &str, text: &str| {
            let pre = Pretokenizer::new(pattern).unwrap();
            texts(text, &pieces(&pre, text))
        };
        assert_eq!(split(CL100K_PATTERN, "today\n \n"), ["today", "\n \n"]);
        assert_eq!(split(CL100K_PATTERN, "today\n  \n"), ["today", "\n  \n"]);
        assert_eq!(
            split(CL100K_PATTERN, "a  \u{3000}b"),
            ["a", "  ", "\u{3000}b"]
        );
        assert_eq!(split(R50K_PATTERN, "I'LL"), ["I", "'", "LL"]);
        assert_eq!(split(CL100K_PATTERN, "I'LL"), ["I", "'LL"]);
        assert_eq!(split(O200K_PATTERN, "I'LL x"), ["I'LL", " x"]);
        assert_eq!(split(O200K_PATTERN, "a/b ?/\n/"), ["a", "/b", " ?/\n/"]);
        assert_eq!(split(O200K_PATTERN, "1234567"), ["123", "456", "7"]);
        assert_eq!(split(O200K_PATTERN, "中A"), ["中", "A"]);
    }

    /// A tiny deterministic PRNG (xorshift64*), so random tests reproduce exactly.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        /// A string of up to `max_atoms` atoms drawn from `ALPHABET` by weight.
        fn text(&mut self, max_atoms: usize) -> String {
            let total: usize = ALPHABET.iter().map(|&(w, _)| w).sum();
            let mut out = String::new();
            for _ in 0..self.below(max_atoms + 1) {
                let mut roll = self.below(total);
                for &(weight, atoms) in ALPHABET {
                    if roll < weight {
                        let n = atoms.chars().count();
                        out.push(atoms.chars().nth(self.below(n)).unwrap());
                        break;
                    }
                    roll -= weight;
                }
            }
            out
        }
    }

    /// (weight, chars to pick one from): the characters whose classes the patterns tell apart.
    const ALPHABET: &[(usize, &str)] = &[
        (10, "abcdefghijklmnopqrstuvwxyz"),
        (6, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        (6, "sdmtlver"),
        (3, "SDMTLVER"),
        (4, "0123456789"),
        (8, "'"),
        (12, " "),
        (3, "\t"),
        (3, "\r"),
        (4, "\n"),
        (2, "\u{3000}\u{a0}\u{2028}\u{85}\u{b}\u{c}"),
        (3, "한국어中文字かなカナ"),
        (3, "\u{301}\u{308}\u{e31}\u{93f}"),
        (3, "\u{1c5}\u{2b0}\u{1c4}\u{1c6}\u{e01}\u{e32}ǅʰ"),
        (2, "😀👍\u{200d}\u{fe0f}🇫🇷"),
        (4, "/"),
        (5, ".,!?-^\"()[]{}#$%&*+=<>@\\_`|~;:"),
        (2, "ſ\u{212a}İßﬀ\u{345}Ωω"),
        (2, "½٣Ⅻ²"),
    ];

    #[test]
    fn pretok_random_strings_match_regex() {
        // 200k strings per family; each family in its own thread (2 cores in CI).
        std::thread::scope(|scope| {
            for (i, (name, pattern)) in FAMILIES.iter().enumerate() {
                scope.spawn(move || {
                    let pair = Pair::new(name, pattern);
                    let mut rng = XorShift(0x1234_5678_9ABC_DEF1 ^ ((i as u64 + 1) * 0x9E37));
                    for _ in 0..if THOROUGH { 200_000 } else { 20_000 } {
                        pair.check(&rng.text(64));
                    }
                });
            }
        });
    }

    #[test]
    fn pretok_corpora_match_regex() {
        let corpora = corpora(if THOROUGH { usize::MAX } else { 300_000 });
        std::thread::scope(|scope| {
            for (name, pattern) in FAMILIES {
                let corpora = &corpora;
                scope.spawn(move || {
                    let pair = Pair::new(name, pattern);
                    for (_, text) in corpora {
                        pair.check(text);
                    }
                });
            }
        });
    }

    /// Inputs that make a backtracking engine blow up (o200k has no possessives: fancy-regex
    /// fails at about a million spaces) must split as the pattern means, in linear time.
    #[test]
    fn pretok_long_runs_are_linear() {
        let n = if THOROUGH { 10 << 20 } else { 1 << 20 };
        let cl = Pretokenizer::new(CL100K_PATTERN).unwrap();
        let o2 = Pretokenizer::new(O200K_PATTERN).unwrap();
        let r5 = Pretokenizer::new(R50K_PATTERN).unwrap();
        for ch in ["a", " ", "\n", "^", "0", "\u{3000}", "\t"] {
            let text = ch.repeat(n / ch.len());
            for pre in [&r5, &cl, &o2] {
                let start = Instant::now();
                let got = pieces(pre, &text);
                let secs = start.elapsed().as_secs_f64();
                let expected: Vec<(usize, usize)> =
                    if ch == "0" && !matches!(pre, Pretokenizer::R50k) {
                        (0..text.len())
                            .step_by(3)
                            .map(|i| (i, (i + 3).min(text.len())))
                            .collect()
                    } else {
                        vec![(0, text.len())]
                    };
                assert!(got == expected, "{ch:?} x {n}: {} pieces", got.len());
                if THOROUGH {
                    assert!(secs < 0.5, "{ch:?} x {n} took {secs:.2} s");
                }
            }
        }
        // Whitespace runs between other text, past where fancy-regex gives up on o200k.
        let spaces = " ".repeat(2_000_000);
        let split = |pre: &Pretokenizer, text: &str| pieces(pre, text);
        let text = format!("a{spaces}");
        assert_eq!(split(&o2, &text), [(0, 1), (1, text.len())]);
        let text = format!("{spaces}a");
        assert_eq!(
            split(&o2, &text),
            [(0, spaces.len() - 1), (spaces.len() - 1, text.len())]
        );
        let text = format!("x{spaces}\n{spaces}");
        let nl = spaces.len() + 2;
        assert_eq!(split(&o2, &text), [(0, 1), (1, nl), (nl, text.len())]);
        assert_eq!(split(&cl, &text), [(0, 1), (1, text.len())]);
        let text = format!("{spaces}\n{spaces}x");
        assert_eq!(
            split(&o2, &text),
            [
                (0, nl - 1),
                (nl - 1, text.len() - 2),
                (text.len() - 2, text.len())
            ]
        );
    }

    /// Throughput of each scanner next to fancy-regex on the shared corpora (best of 5 wall-clock
    /// runs; on a busy machine the ratio is the steadier number). Run with
    /// `cargo test --release pretok_speed -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn pretok_speed() {
        let time = |mb: f64, f: &dyn Fn() -> usize| {
            let (mut best, mut count) = (f64::MAX, 0);
            for _ in 0..5 {
                let start = Instant::now();
                count = f();
                best = best.min(start.elapsed().as_secs_f64());
            }
            (mb / best, count)
        };
        for (name, text) in corpora(usize::MAX) {
            for pair in Pair::all() {
                let mb = text.len() as f64 / 1e6;
                let (ours, n1) = time(mb, &|| {
                    let mut n = 0;
                    pair.scanner.for_each_piece(&text, |_, _| n += 1).unwrap();
                    n
                });
                let (theirs, n2) = time(mb, &|| regex_pieces(&pair.regex, &text).len());
                assert_eq!(n1, n2);
                println!(
                    "{name:8} {:7} {mb:6.2} MB {n1:9} pieces  scanner {ours:7.1} MB/s  \
                     fancy-regex {theirs:5.1} MB/s  x{:.1}",
                    pair.name,
                    ours / theirs
                );
            }
        }
    }
}
