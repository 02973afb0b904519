//! Special tokens of a tiktoken encoding: which ones a pass acts on, and finding them in text.

use std::collections::{HashMap, HashSet};

use crate::vocab::Rank;

/// Which special tokens a pass acts on.
#[derive(Debug, Clone)]
pub enum SpecialSet {
    None,
    All,
    Only(HashSet<String>),
}

impl SpecialSet {
    pub(crate) fn contains(&self, token: &str) -> bool {
        match self {
            SpecialSet::None => false,
            SpecialSet::All => true,
            SpecialSet::Only(set) => set.contains(token),
        }
    }
}

/// Finds special-token strings in text: candidates start at a byte in `first_bytes`; at a
/// candidate every distinct special length is tried against a hash set (o200k_harmony has 1,091
/// specials but only a handful of lengths).
pub(crate) struct SpecialMatcher {
    tokens: HashMap<String, Rank>,
    first_bytes: [bool; 256],
    /// Distinct lengths, longest first, so a longer special wins over its prefix.
    lengths: Vec<usize>,
}

impl SpecialMatcher {
    pub(crate) fn new(specials: &[(String, Rank)]) -> Self {
        let mut first_bytes = [false; 256];
        let mut lengths: Vec<usize> = Vec::new();
        let mut tokens = HashMap::new();
        for (s, r) in specials {
            if let Some(&b) = s.as_bytes().first() {
                first_bytes[b as usize] = true;
                lengths.push(s.len());
                tokens.insert(s.clone(), *r);
            }
        }
        lengths.sort_unstable_by(|a, b| b.cmp(a));
        lengths.dedup();
        SpecialMatcher {
            tokens,
            first_bytes,
            lengths,
        }
    }

    /// The leftmost special token at or after `from` for which `accept` holds:
    /// `(start, end, rank)`.
    pub(crate) fn find(
        &self,
        text: &str,
        from: usize,
        accept: impl Fn(&str) -> bool,
    ) -> Option<(usize, usize, Rank)> {
        if self.tokens.is_empty() {
            return None;
        }
        let bytes = text.as_bytes();
        let mut i = from;
        while i < bytes.len() {
            if self.first_bytes[bytes[i] as usize] {
                for &len in &self.lengths {
                    if let Some(cand) = text.get(i..i + len) {
                        if let Some(&rank) = self.tokens.get(cand) {
                            if accept(cand) {
                                return Some((i, i + len, rank));
                            }
                        }
                    }
                }
            }
            i += 1;
        }
        None
    }
}
