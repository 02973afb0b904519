//! The hand-written scanners of the OpenAI patterns (see the module above for how each one
//! derives from its pattern): one forward pass over the text, eight ASCII bytes at a time where
//! a run allows.

use crate::unicode::{ClassTable, CLASSES, LETTER, LOWER, MULTIBYTE, NUMBER, OTHER, SPACE, UPPER};

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
pub(super) struct Scanner<'a> {
    s: &'a [u8],
    t: &'static ClassTable,
}

impl<'a> Scanner<'a> {
    /// A scanner over `text`, with the character classes of `crate::unicode`.
    pub(super) fn new(text: &'a str) -> Self {
        Scanner {
            s: text.as_bytes(),
            t: &CLASSES,
        }
    }

    /// Emit the pieces that `piece(p)` (the end of the piece starting at `p`) cuts.
    #[inline(always)]
    pub(super) fn run(
        &self,
        mut f: impl FnMut(usize, usize),
        piece: impl Fn(&Self, usize) -> usize,
    ) {
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
    pub(super) fn r50k_piece(&self, p: usize) -> usize {
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
    pub(super) fn cl100k_piece(&self, p: usize) -> usize {
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
    pub(super) fn o200k_piece(&self, p: usize) -> usize {
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
