//! toklm's Rust core: exact byte-level BPE in plain Rust.
//!
//! Nothing in this crate except `bindings.rs` knows about Python.
pub mod batch;
pub mod bpe;
pub mod bpe_backtrack;
pub mod core;
pub mod hf_bpe;
pub mod pretok;
pub mod train;
pub mod unicode;
pub mod vocab;

#[cfg(feature = "python")]
mod bindings;
#[cfg(feature = "python")]
mod bindings_train;
