//! Hugging Face BPE: the `tokenizers` library's `BPE` model and byte-level pipeline, exactly.
//!
//! The pipeline mirrors `tokenizers::Tokenizer::encode` for byte-level models:
//! 1. added tokens that are matched on the raw text (`normalized: false`) are cut out
//!    (`added_tokens`),
//! 2. (normalization is done by the caller, in Python), then added tokens matched on normalized
//!    text are cut out of the remaining pieces,
//! 3. the pre-tokenizer steps (`Split` with a regex, `ByteLevel`) split each piece
//!    (`pre_tokenizers`),
//! 4. the model encodes each word, after mapping bytes to GPT-2's byte-level alphabet (`model`,
//!    `byte_level`).
//!
//! Step 4 never builds byte-level strings: vocab entries are decoded to raw bytes at load time and
//! words are encoded as raw bytes. Offsets are byte offsets in the text given to `encode`, widened
//! to whole characters (a token holding part of a multi-byte character covers all of it, as in
//! Hugging Face, whose alignments are per character; `offsets`). Decoding reads `token_table`.

pub mod added_tokens;
pub mod byte_level;
pub mod merges;
pub mod model;
pub mod offsets;
pub mod pipeline;
pub mod pre_tokenizers;
pub mod token_table;

pub use added_tokens::{AddedMatcher, AddedToken};
pub use byte_level::{byte_level_chars, decode_byte_level};
pub use merges::{parse_merge, parse_merges_txt, MergeList};
pub use model::{Alphabet, BpeOptions, HfBpe, WordScratch};
pub use offsets::byte_to_char_offsets;
pub use pipeline::{Encoded, HfPipeline, Scratch};
pub use pre_tokenizers::{Behavior, PreStep, BYTE_LEVEL_PATTERN};
pub use token_table::TokenTable;
