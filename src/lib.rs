//! toklm's Rust core: exact byte-level BPE in plain Rust.
//!
//! Nothing in this crate except `bindings.rs` knows about Python.
pub mod batch;
#[path = "bpe/merge.rs"]
pub mod bpe;
#[path = "bpe/backtrack.rs"]
pub mod bpe_backtrack;
#[path = "tiktoken/encoder.rs"]
pub mod core;
#[path = "hf/model.rs"]
pub mod hf_bpe;
pub mod pretok;
pub mod train;
pub mod unicode;
pub mod vocab;

#[cfg(feature = "python")]
#[path = "py/tiktoken.rs"]
mod bindings;
#[cfg(feature = "python")]
mod bindings_train;
