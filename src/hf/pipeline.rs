//! The pipeline of a byte-level `tokenizer.json`: added tokens, pre-tokenizers, then the model on
//! every word (the normalizer, post-processor and decoder are Python's).

use std::sync::Mutex;

use super::added_tokens::AddedMatcher;
use super::model::{HfBpe, WordScratch};
use super::offsets::widen_to_chars;
use super::pre_tokenizers::{regex_matches, split_by, PreStep};

/// Everything of a `tokenizer.json` except the normalizer, post-processor and decoder.
pub struct HfPipeline {
    pub model: HfBpe,
    /// Added tokens matched on the raw text (`normalized: false`).
    pub raw_added: AddedMatcher,
    /// Added tokens matched on the normalized text (their content normalized by the caller).
    pub normalized_added: AddedMatcher,
    pub steps: Vec<PreStep>,
    /// Idle scratch buffers (with their word caches), reused across calls and threads.
    pool: Mutex<Vec<Scratch>>,
}

/// At most this many idle scratch buffers are kept (each holds a word cache).
const POOL_SIZE: usize = 16;

/// Token ids and, when asked for, their byte spans in the encoded text.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub offsets: Vec<(u32, u32)>,
}

impl HfPipeline {
    pub fn new(
        model: HfBpe,
        raw_added: AddedMatcher,
        normalized_added: AddedMatcher,
        steps: Vec<PreStep>,
    ) -> Self {
        HfPipeline {
            model,
            raw_added,
            normalized_added,
            steps,
            pool: Mutex::new(Vec::new()),
        }
    }

    /// Run `f` with a scratch buffer from the pool (a fresh one when all are in use), so that
    /// word caches stay warm across calls; any number of threads may call this at once.
    pub fn with_scratch<R>(&self, f: impl FnOnce(&mut Scratch) -> R) -> R {
        let taken = self.pool.lock().map(|mut p| p.pop()).unwrap_or(None);
        let mut scratch = taken.unwrap_or_default();
        let out = f(&mut scratch);
        if let Ok(mut pool) = self.pool.lock() {
            if pool.len() < POOL_SIZE {
                pool.push(scratch);
            }
        }
        out
    }

    /// Encode `text`. With `raw_stage`, added tokens with `normalized: false` are matched first
    /// (pass false when the caller already cut them out and normalized the rest).
    pub fn encode(
        &self,
        text: &str,
        raw_stage: bool,
        with_offsets: bool,
        scratch: &mut Scratch,
    ) -> Result<Encoded, String> {
        let mut enc = Encoded::default();
        if raw_stage {
            for (id, s, e) in self.raw_added.find_matches(text) {
                self.push_piece(text, s, e, id, with_offsets, scratch, &mut enc)?;
            }
        } else {
            self.encode_normalized(text, 0, with_offsets, scratch, &mut enc)?;
        }
        if with_offsets {
            widen_to_chars(text, &mut enc.offsets);
        }
        Ok(enc)
    }

    #[allow(clippy::too_many_arguments)]
    fn push_piece(
        &self,
        text: &str,
        s: usize,
        e: usize,
        id: Option<u32>,
        with_offsets: bool,
        scratch: &mut Scratch,
        enc: &mut Encoded,
    ) -> Result<(), String> {
        match id {
            Some(id) => {
                enc.ids.push(id);
                if with_offsets {
                    enc.offsets.push((s as u32, e as u32));
                }
                Ok(())
            }
            None => self.encode_normalized(&text[s..e], s, with_offsets, scratch, enc),
        }
    }

    /// Stage 2 onwards on one normalized piece that starts at byte `base` of the encoded text.
    fn encode_normalized(
        &self,
        piece: &str,
        base: usize,
        with_offsets: bool,
        scratch: &mut Scratch,
        enc: &mut Encoded,
    ) -> Result<(), String> {
        for (id, s, e) in self.normalized_added.find_matches(piece) {
            match id {
                Some(id) => {
                    enc.ids.push(id);
                    if with_offsets {
                        enc.offsets.push(((base + s) as u32, (base + e) as u32));
                    }
                }
                None => self.pre_tokenize(&piece[s..e], base + s, 0, with_offsets, scratch, enc)?,
            }
        }
        Ok(())
    }

    /// Run pre-tokenizer steps `step..` on `piece` (at byte `base`), then the model on each word.
    fn pre_tokenize(
        &self,
        piece: &str,
        base: usize,
        step: usize,
        with_offsets: bool,
        scratch: &mut Scratch,
        enc: &mut Encoded,
    ) -> Result<(), String> {
        if piece.is_empty() {
            return Ok(());
        }
        let Some(pre) = self.steps.get(step) else {
            return self.encode_words(
                piece,
                &[(0, piece.len())],
                base,
                false,
                with_offsets,
                scratch,
                enc,
            );
        };
        match pre {
            PreStep::Split {
                regex,
                behavior,
                invert,
            } => {
                let mut parts = Vec::new();
                split_by(regex_matches(regex, piece)?, *behavior, *invert, &mut parts);
                for (s, e) in parts {
                    self.pre_tokenize(
                        &piece[s..e],
                        base + s,
                        step + 1,
                        with_offsets,
                        scratch,
                        enc,
                    )?;
                }
                Ok(())
            }
            PreStep::ByteLevel {
                add_prefix_space,
                regex,
            } => {
                let prefixed;
                let (word_text, virtual_space) = if *add_prefix_space && !piece.starts_with(' ') {
                    prefixed = format!(" {piece}");
                    (prefixed.as_str(), true)
                } else {
                    (piece, false)
                };
                let mut parts = std::mem::take(&mut scratch.pieces);
                parts.clear();
                match regex {
                    Some(re) => {
                        // Isolated: matches and the gaps between them are all words.
                        let mut prev = 0;
                        re.for_each_piece(word_text, |s, e| {
                            if prev != s {
                                parts.push((prev, s));
                            }
                            parts.push((s, e));
                            prev = e;
                        })?;
                        if prev != word_text.len() {
                            parts.push((prev, word_text.len()));
                        }
                    }
                    None => parts.push((0, word_text.len())),
                }
                let r = self.encode_words(
                    word_text,
                    &parts,
                    base,
                    virtual_space,
                    with_offsets,
                    scratch,
                    enc,
                );
                scratch.pieces = parts;
                r
            }
        }
    }

    /// Encode each word `text[s..e]`; offsets map back to the encoded text, where a prepended
    /// space (`virtual_space`) is aligned with the first character, as Hugging Face does.
    #[allow(clippy::too_many_arguments)]
    fn encode_words(
        &self,
        text: &str,
        words: &[(usize, usize)],
        base: usize,
        virtual_space: bool,
        with_offsets: bool,
        scratch: &mut Scratch,
        enc: &mut Encoded,
    ) -> Result<(), String> {
        let mut pieces = Vec::new();
        for &(s, e) in words {
            pieces.clear();
            self.model
                .encode_word(&text.as_bytes()[s..e], &mut scratch.word, &mut pieces);
            enc.ids.extend(pieces.iter().map(|p| p.id));
            if with_offsets {
                let shift = virtual_space as usize;
                let orig = |i: usize| base + i.saturating_sub(shift);
                enc.offsets.extend(pieces.iter().map(|p| {
                    let (a, b) = (s + p.start as usize, s + p.end as usize);
                    (orig(a) as u32, orig(b - 1) as u32 + 1)
                }));
            }
        }
        Ok(())
    }
}

/// Reusable buffers of one encoding thread (never shared between threads).
#[derive(Default)]
pub struct Scratch {
    /// The model's buffers and word cache.
    pub word: WordScratch,
    /// The words of the piece being pre-tokenized.
    pieces: Vec<(usize, usize)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hf::added_tokens::tests::added;
    use crate::hf::model::tests::model;
    use crate::hf::offsets::byte_to_char_offsets;

    #[test]
    fn pipeline_offsets_and_prefix_space() {
        let model = model(&[(" ", "w"), (" w", "o")], false);
        let pipe = HfPipeline::new(
            model,
            AddedMatcher::new(vec![added(999, "<|e|>")]),
            AddedMatcher::new(vec![]),
            vec![PreStep::byte_level(true, true)],
        );
        let mut sc = Scratch::default();
        let enc = pipe.encode("wo<|e|>é", true, true, &mut sc).unwrap();
        assert_eq!(enc.ids, vec![257, 999, b' ' as u32, 0xC3, 0xA9]);
        // The prepended space is aligned with the first character of its piece; both halves
        // of "é" cover the whole character.
        assert_eq!(enc.offsets, vec![(0, 2), (2, 7), (7, 9), (7, 9), (7, 9)]);
        let mut offs = enc.offsets.clone();
        byte_to_char_offsets("wo<|e|>é", &mut offs);
        assert_eq!(offs[4], (7, 8));
    }
}
