//! toklm's Rust core: exact byte-level BPE in plain Rust.
//!
//! The pipeline, in module order: `unicode` (character classes) and `pretok` (splitting text
//! into pieces), `vocab` (token bytes <-> rank), `bpe` (one piece: the merge loop and the
//! backtracking encoder), then the two tokenizer families built on them, `tiktoken` and `hf`;
//! `batch` (many texts to one flat array) and `train` (learning a vocabulary) use them; `pool`
//! is the thread pool of every parallel call (made again in a forked child).
//! Nothing in this crate except `py` (the bindings) knows about Python.
pub mod batch;
pub mod bpe;
pub mod hf;
pub mod pool;
pub mod pretok;
pub mod tiktoken;
pub mod train;
pub mod unicode;
pub mod vocab;

#[cfg(feature = "python")]
mod py;
