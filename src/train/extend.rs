//! Extending an existing vocabulary with new merges, keeping every base id.
//!
//! Each counted piece is first encoded with the base vocabulary exactly as the encoder does
//! (`bpe::PieceEncoder::encode_pretokenized`), and merging continues from those tokens. Base ranks and special
//! ids are untouched; new tokens get ids from `first_id` (after the base's highest id, specials
//! included) upwards.
//!
//! What the new tokens can change: under tiktoken's rank rule a piece merges its lowest-ranked
//! mergeable pair first, and every new rank is above every base rank, so each piece first reaches
//! its base encoding; a new token can only form afterwards, from two adjacent final tokens whose
//! bytes concatenate to it (and a new token can then enable base merges next to it). A piece in
//! which no adjacent tokens ever concatenate to a new token therefore keeps its base ids. With
//! `scripts`, every new token holds a complete character of those scripts (`script::ScriptSet`),
//! so every piece without such a character - all of an English text after a Hangul extension -
//! encodes to exactly its base ids. Without `scripts` that guarantee holds only for pieces where
//! none of the new tokens occurs.

use rayon::prelude::*;

use super::count::PieceCounts;
use super::merge::{Id, Merger, TokenTable, Trained};
use super::script::ScriptSet;
use super::TrainError;
use crate::bpe::PieceEncoder;
use crate::vocab::{Vocab, NO_RANK};

/// Settings of an extension.
#[derive(Debug, Clone)]
pub struct ExtendOptions {
    /// How many tokens to add.
    pub n_new: usize,
    /// Stop when the best pair occurs fewer times than this.
    pub min_frequency: u64,
    /// Id of the first new token: above every base rank and special-token id.
    pub first_id: Id,
    /// Only learn tokens of these scripts (None: any token).
    pub scripts: Option<ScriptSet>,
}

/// Learn `opts.n_new` tokens on top of `base`. The returned table holds the base tokens at
/// their ranks and the new ones from `opts.first_id`.
pub fn extend_vocab(
    base: &Vocab,
    counts: &PieceCounts,
    opts: &ExtendOptions,
    progress: &mut dyn FnMut(usize) -> bool,
) -> Result<Trained, TrainError> {
    if counts.is_empty() {
        return Err(TrainError::EmptyCorpus);
    }
    let last = opts.first_id as u64 + opts.n_new as u64;
    if last > NO_RANK as u64 {
        return Err(TrainError::Invalid(format!(
            "{} new tokens from id {} overflow the id space (ids end at {})",
            opts.n_new,
            opts.first_id,
            NO_RANK - 1
        )));
    }
    if (opts.first_id as usize) < base.n_ranks() {
        return Err(TrainError::Invalid(format!(
            "new ids must start after the base's ranks (at {} or above, got {})",
            base.n_ranks(),
            opts.first_id
        )));
    }
    let mut table = TokenTable::default();
    for (bytes, rank) in base.iter() {
        table.insert(rank, bytes.to_vec());
    }
    let pieces = counts.sorted();
    let encoder = PieceEncoder::new(base.clone());
    let words: Vec<(Vec<Id>, u64)> = crate::pool::install(|| {
        pieces
            .par_iter()
            .map(|&(piece, c)| {
                let mut ids = Vec::new();
                encoder.encode_pretokenized(piece, &mut ids);
                (ids, c)
            })
            .collect()
    });
    let allow = |bytes: &[u8]| opts.scripts.as_ref().is_none_or(|s| s.allows(bytes));
    let merges = Merger::new(words.into_iter()).run(
        &mut table,
        opts.first_id,
        (opts.n_new, opts.min_frequency),
        &allow,
        progress,
    )?;
    Ok(Trained {
        tokens: table.into_bytes(),
        merges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretok::{Pretokenizer, CL100K_PATTERN};
    use crate::tiktoken::CoreBpe;
    use crate::train::merge::{train_from_bytes, TrainOptions};

    fn counts(text: &str) -> PieceCounts {
        let mut c = PieceCounts::new();
        c.add_texts(&Pretokenizer::new(CL100K_PATTERN).unwrap(), &[text])
            .unwrap();
        c
    }

    fn vocab_of(tokens: &[Vec<u8>]) -> Vocab {
        Vocab::from_pairs(
            tokens
                .iter()
                .enumerate()
                .filter(|(_, t)| !t.is_empty())
                .map(|(i, t)| (&t[..], i as u32)),
        )
        .unwrap()
    }

    #[test]
    fn train_extend_keeps_ids_of_text_without_the_script() {
        let english =
            "The quick brown fox jumps over the lazy dog. It's 2024, isn't it? ".repeat(20);
        let base = train_from_bytes(
            &counts(&english),
            &TrainOptions {
                n_merges: 60,
                min_frequency: 2,
            },
            &mut |_| true,
        )
        .unwrap();
        let base_vocab = vocab_of(&base.tokens);
        let korean =
            "안녕하세요 우리는 한국어를 공부합니다. 한국어 토큰은 비쌉니다 the fox ".repeat(30);
        let n_base = base_vocab.n_ranks() as u32;
        let ext = extend_vocab(
            &base_vocab,
            &counts(&korean),
            &ExtendOptions {
                n_new: 40,
                min_frequency: 2,
                first_id: n_base + 1, // one special token in between
                scripts: Some(ScriptSet::new(&["Hangul"]).unwrap()),
            },
            &mut |_| true,
        )
        .unwrap();
        assert_eq!(ext.merges.iter().filter(|m| m.added).count(), 40);
        // Base ids kept, the special slot empty, new ids after it.
        for (i, t) in base.tokens.iter().enumerate() {
            assert_eq!(&ext.tokens[i], t);
        }
        assert!(ext.tokens[n_base as usize].is_empty());
        let old = CoreBpe::new(base_vocab, vec![], CL100K_PATTERN).unwrap();
        let new = CoreBpe::new(vocab_of(&ext.tokens), vec![], CL100K_PATTERN).unwrap();
        assert_eq!(
            old.encode_ordinary(&english).unwrap(),
            new.encode_ordinary(&english).unwrap()
        );
        let (o, n) = (
            old.encode_ordinary(&korean).unwrap().len(),
            new.encode_ordinary(&korean).unwrap().len(),
        );
        assert!(n * 2 < o, "korean {o} -> {n} tokens");
        for m in ext.merges.iter().filter(|m| m.added) {
            assert!(ScriptSet::new(&["Hangul"])
                .unwrap()
                .allows(&ext.tokens[m.token as usize]));
        }
    }

    #[test]
    fn train_extend_rejects_overflowing_ids() {
        let base = vocab_of(&TokenTable::bytes_only().into_bytes());
        let err = extend_vocab(
            &base,
            &counts("ab ab"),
            &ExtendOptions {
                n_new: 10,
                min_frequency: 1,
                first_id: u32::MAX - 5,
                scripts: None,
            },
            &mut |_| true,
        )
        .unwrap_err();
        assert!(err.to_string().contains("overflow the id space"), "{err}");
    }
}
