//! Balanced multilingual training (parity-aware BPE, arXiv 2508.04796).
//!
//! Each language has its own training corpus and a development corpus on which its token count
//! is measured; the development corpora should be parallel (the same content in every
//! language), so that a language's *premium* - its tokens divided by the reference language's -
//! says how much more the same content costs in it. Each step gives the merge to the language
//! whose premium is currently the worst: its most frequent pair (ties: smallest ids) is merged
//! in every language's corpora. A language whose best pair occurs fewer than `min_frequency`
//! times drops out of the choice; training stops when every language has.

use super::count::PieceCounts;
use super::merge::{byte_words, Id, Learned, Merger, TokenTable, TrainOptions, Trained};
use super::TrainError;

/// The result: the vocabulary and each language's final premium (same order as the input).
#[derive(Debug, Clone)]
pub struct Balanced {
    pub trained: Trained,
    pub premiums: Vec<f64>,
}

fn merger_of(counts: &PieceCounts) -> Merger {
    Merger::new(byte_words(counts))
}

/// Train from the 256 bytes, one language's training and development counts per index.
pub fn train_balanced(
    train: &[&PieceCounts],
    dev: &[&PieceCounts],
    reference: usize,
    opts: &TrainOptions,
) -> Result<Balanced, TrainError> {
    if train.is_empty() || train.len() != dev.len() || reference >= train.len() {
        return Err(TrainError::Invalid(
            "balanced training needs one training and one development corpus per language, \
             and a reference language among them"
                .into(),
        ));
    }
    if let Some(i) = (0..train.len()).find(|&i| train[i].is_empty() || dev[i].is_empty()) {
        return Err(TrainError::Invalid(format!(
            "language #{i} has an empty training or development corpus"
        )));
    }
    let mut train_m: Vec<Merger> = train.iter().map(|c| merger_of(c)).collect();
    let mut dev_m: Vec<Merger> = dev.iter().map(|c| merger_of(c)).collect();
    let mut table = TokenTable::bytes_only();
    let mut merges = Vec::new();
    let mut active = vec![true; train.len()];
    let mut next_id: Id = 256;
    let mut added = 0;
    while added < opts.n_merges {
        let reference_tokens = dev_m[reference].n_tokens().max(1) as f64;
        let worst = (0..train.len()).filter(|&i| active[i]).max_by(|&a, &b| {
            let pa = dev_m[a].n_tokens() as f64 / reference_tokens;
            let pb = dev_m[b].n_tokens() as f64 / reference_tokens;
            pa.total_cmp(&pb).then(b.cmp(&a))
        });
        let Some(lang) = worst else {
            break;
        };
        let (count, pair) = match train_m[lang].peek_best() {
            Some((c, p)) if c >= opts.min_frequency.max(1) => (c, p),
            _ => {
                active[lang] = false;
                continue;
            }
        };
        let bytes = table.concat(pair);
        let (token, is_new) = match table.id(&bytes) {
            Some(id) => (id, false),
            None => (next_id, true),
        };
        if is_new {
            table.insert(token, bytes);
            next_id += 1;
            added += 1;
        }
        for m in train_m.iter_mut().chain(dev_m.iter_mut()) {
            m.apply(pair, token);
        }
        merges.push(Learned {
            left: pair.0,
            right: pair.1,
            token,
            count,
            added: is_new,
        });
    }
    let reference_tokens = dev_m[reference].n_tokens().max(1) as f64;
    let premiums = dev_m
        .iter()
        .map(|m| m.n_tokens() as f64 / reference_tokens)
        .collect();
    Ok(Balanced {
        trained: Trained {
            tokens: table.into_bytes(),
            merges,
        },
        premiums,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretok::{Pretokenizer, O200K_PATTERN};
    use crate::train::merge::train_from_bytes;

    fn counts(text: &str) -> PieceCounts {
        let mut c = PieceCounts::new();
        c.add_texts(&Pretokenizer::new(O200K_PATTERN).unwrap(), &[text])
            .unwrap();
        c
    }

    #[test]
    fn train_balanced_lowers_the_worst_premium() {
        // English dominates the pooled corpus; Korean says the same in fewer, longer pieces.
        let en_line = "the people of the world want peace and the rule of law ";
        let ko_line = "세계의 사람들은 평화와 법의 지배를 원한다 ";
        let (en, ko) = (counts(&en_line.repeat(50)), counts(&ko_line.repeat(5)));
        // Parallel development texts: the same sentence in each language.
        let (en_dev, ko_dev) = (counts(&en_line.repeat(3)), counts(&ko_line.repeat(3)));
        let opts = TrainOptions {
            n_merges: 40,
            min_frequency: 2,
        };
        let mut pooled = en.clone();
        pooled.merge(&ko);
        let plain = train_from_bytes(&pooled, &opts, &mut |_| true).unwrap();
        let balanced = train_balanced(&[&en, &ko], &[&en_dev, &ko_dev], 0, &opts).unwrap();
        assert_eq!(
            balanced.trained.merges.iter().filter(|m| m.added).count(),
            40
        );
        let tokens_of = |t: &Trained, c: &PieceCounts| {
            let mut m = merger_of(c);
            for x in &t.merges {
                m.apply((x.left, x.right), x.token);
            }
            m.n_tokens() as f64
        };
        let plain_premium = tokens_of(&plain, &ko_dev) / tokens_of(&plain, &en_dev);
        let balanced_premium = balanced.premiums[1];
        assert!(
            (tokens_of(&balanced.trained, &ko_dev) / tokens_of(&balanced.trained, &en_dev)
                - balanced_premium)
                .abs()
                < 1e-9
        );
        assert!(
            balanced_premium < plain_premium,
            "balanced {balanced_premium} vs plain {plain_premium}"
        );
        assert_eq!(balanced.premiums[0], 1.0);
    }
}
