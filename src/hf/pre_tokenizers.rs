//! Pre-tokenizers: `Split` (with a regex or a literal) and `ByteLevel`, as `tokenizers` runs them.

use crate::pretok::Pretokenizer;

/// `tokenizers`' ByteLevel pre-tokenizer regex; `Pretokenizer::new` gives it a fast scanner.
pub use crate::pretok::GPT2_PATTERN as BYTE_LEVEL_PATTERN;

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
pub(crate) fn regex_matches(
    re: &Pretokenizer,
    text: &str,
) -> Result<Vec<(usize, usize, bool)>, String> {
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
pub(crate) fn split_by(
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
