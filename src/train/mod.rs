//! Training byte-level BPE vocabularies under tiktoken's rank rule.
//!
//! Training runs in two phases:
//! 1. `count`: the corpus is pre-tokenized with the encoding's pattern (the same scanners that
//!    encode, `crate::pretok`) and every distinct piece is counted (u64 counts, all cores).
//!    Memory is bounded by the number of distinct pieces, not by the corpus size; files are read
//!    in blocks and cut only where every supported pattern has a piece boundary.
//! 2. `merge`: each distinct piece becomes a word (a sequence of token ids), pair counts and a
//!    pair -> words index are built once, and the best pair is taken from a priority queue with
//!    lazy deletion; only the words that contain it are updated.
//!
//! `extend` starts the second phase from an existing vocabulary: each piece is first encoded
//! with the base BPE, and the new tokens get ids after the base's highest id (special tokens
//! included). `script` restricts new tokens to Unicode scripts, which is what keeps every text
//! without those scripts encoding to exactly the base ids (see `extend`).
//!
//! Determinism: the best pair is the one with the highest count; ties go to the smallest
//! `(left id, right id)`. Words are sorted by their bytes before the merge phase, so the result
//! is byte-identical whatever the thread count or the order the corpus was counted in.

pub mod balance;
pub mod count;
pub mod extend;
pub mod merge;
pub mod script;

use std::fmt;

pub use count::{PieceCounts, Utf8Policy};
pub use extend::{extend_vocab, ExtendOptions};
pub use merge::{train_from_bytes, Learned, TrainOptions, Trained};

/// What can go wrong while training.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrainError {
    /// The pattern does not compile (the message says why).
    Pattern(String),
    /// Reading a file failed.
    Io { path: String, message: String },
    /// A file is not UTF-8 (and errors were not to be replaced).
    Utf8 { source: String, offset: u64 },
    /// The corpus has no piece to learn from.
    EmptyCorpus,
    /// A setting is out of range (the message names it).
    Invalid(String),
    /// The progress callback asked to stop.
    Interrupted,
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::Pattern(m) => write!(f, "bad pattern: {m}"),
            TrainError::Io { path, message } => write!(f, "{path}: {message}"),
            TrainError::Utf8 { source, offset } => write!(
                f,
                "{source}: invalid UTF-8 at byte offset {offset} (errors=\"replace\" or --errors replace reads U+FFFD instead)"
            ),
            TrainError::EmptyCorpus => write!(f, "the corpus is empty: no text to learn merges from"),
            TrainError::Invalid(m) => write!(f, "{m}"),
            TrainError::Interrupted => write!(f, "interrupted"),
        }
    }
}

impl std::error::Error for TrainError {}
