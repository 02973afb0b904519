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

mod scanner;
#[cfg(test)]
mod tests;

use fancy_regex::Regex;

use crate::unicode::CLASSES;
use scanner::Scanner;

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
        let scanner = || Scanner::new(text);
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
