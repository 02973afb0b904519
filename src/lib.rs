//! toklm's Rust core: exact byte-level BPE in plain Rust.
//!
//! Nothing in this crate except `bindings.rs` knows about Python.
pub mod unicode;
pub mod pretok;
pub mod vocab;
pub mod bpe;
pub mod core;

#[cfg(feature = "python")]
mod bindings;
