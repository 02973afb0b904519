//! tiktoken's encoder: pre-tokenization, BPE with the concatenation-rank rule, special tokens
//! and decoding, exactly as the `tiktoken` library does them.

pub mod encoder;
pub mod specials;

pub use encoder::{BuildError, CoreBpe};
pub use specials::SpecialSet;
