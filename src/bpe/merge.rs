//! Byte-pair encoding of one piece with tiktoken's rank rule.
//!
//! Start from single bytes; repeatedly merge the adjacent pair whose concatenated bytes have the
//! lowest rank in the vocabulary (ties: leftmost) until no adjacent pair is a token. The token of
//! every part is tracked as it forms, so no lookup is needed at the end.
//!
//! Short pieces use a flat array scanned for the minimum (cache-friendly, like tiktoken's);
//! long pieces use a min-heap over a linked list, O(n log n), so no input is quadratic.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::vocab::{Rank, Vocab, NO_RANK};

/// Pieces up to this many bytes take the flat-array path.
const SHORT_PIECE: usize = 256;

/// Append the BPE tokens of `piece` to `out`. Every byte of `piece` must have a token
/// (checked when the encoder is built), so this cannot fail.
///
/// Uses the linear-time backtracking encoder (`crate::bpe_backtrack`) once the vocabulary's
/// tables are ready, the merge algorithm before and for short ASCII pieces (where it is as fast);
/// both give the same tokens.
pub fn encode_piece(vocab: &Vocab, piece: &[u8], out: &mut Vec<Rank>) {
    match piece.len() {
        0 => {}
        1 => out.push(vocab.byte_rank(piece[0])),
        _ if short_ascii(piece) => encode_by_merging(vocab, piece, out),
        _ => {
            match vocab.backtrack() {
                Some(fast) => {
                    let base = out.len();
                    if fast.encode(piece, out) {
                        return;
                    }
                    out.truncate(base);
                }
                None => vocab.note_slow_bytes(piece.len()),
            }
            encode_by_merging(vocab, piece, out);
        }
    }
}

/// Short ASCII words are mostly whole tokens, which the cached hash lookup finds fastest, and the
/// merge loop with its dense two-byte table is as quick as the trie on the rest.
#[inline]
fn short_ascii(piece: &[u8]) -> bool {
    piece.len() <= SHORT_PIECE && piece.last().is_some_and(|&b| b < 0x80)
}

/// tiktoken's treatment of one pre-tokenized piece: a piece that is itself a token is that token
/// (even a token that BPE would not form: tiktoken treats the vocabulary as a cache), any other
/// piece is BPE-encoded. With the backtracking tables this costs no separate whole-piece lookup.
#[inline]
pub fn encode_pretokenized(vocab: &Vocab, piece: &[u8], out: &mut Vec<Rank>) {
    if let (Some(fast), false) = (vocab.backtrack(), short_ascii(piece)) {
        let base = out.len();
        if piece.is_empty() || fast.encode_word(piece, out) {
            return;
        }
        out.truncate(base);
    }
    match vocab.rank(piece) {
        Some(r) => out.push(r),
        None => encode_piece(vocab, piece, out),
    }
}

/// `encode_piece` by the merge algorithm alone (a piece of at least two bytes).
pub(crate) fn encode_by_merging(vocab: &Vocab, piece: &[u8], out: &mut Vec<Rank>) {
    if piece.len() <= SHORT_PIECE {
        merge_short(vocab, piece, out)
    } else {
        merge_long(vocab, piece, out)
    }
}

/// The BPE tokens of `piece` as a new vector.
pub fn encode_piece_vec(vocab: &Vocab, piece: &[u8]) -> Vec<Rank> {
    let mut out = Vec::new();
    encode_piece(vocab, piece, &mut out);
    out
}

fn merge_short(vocab: &Vocab, piece: &[u8], out: &mut Vec<Rank>) {
    let n = piece.len();
    // Part k covers piece[start[k]..start[k + 1]] and is token tok[k]; pair[k] is the rank of
    // merging part k with part k + 1 (NO_RANK if that is not a token). start has a sentinel.
    let mut start = [0u16; SHORT_PIECE + 1];
    let mut tok = [0 as Rank; SHORT_PIECE];
    let mut pair = [NO_RANK; SHORT_PIECE];
    for i in 0..n {
        start[i] = i as u16;
        tok[i] = vocab.byte_rank(piece[i]);
    }
    start[n] = n as u16;
    for i in 0..n - 1 {
        pair[i] = vocab.pair_rank(piece[i], piece[i + 1]);
    }
    let mut parts = n;
    loop {
        // Leftmost minimum; two simple passes vectorise better than one that tracks the index.
        let live = &pair[..parts - 1];
        let best = live.iter().copied().min().unwrap_or(NO_RANK);
        if best == NO_RANK {
            break;
        }
        let at = live.iter().position(|&r| r == best).unwrap_or(0);
        // Merge parts `at` and `at + 1`.
        tok[at] = best;
        start.copy_within(at + 2..=parts, at + 1);
        tok.copy_within(at + 2..parts, at + 1);
        pair.copy_within(at + 2..parts, at + 1);
        parts -= 1;
        let span = |k: usize| &piece[start[k] as usize..start[k + 2] as usize];
        if at + 1 < parts {
            pair[at] = vocab.rank_or_max(span(at));
        } else {
            pair[at] = NO_RANK;
        }
        if at > 0 {
            pair[at - 1] = vocab.rank_or_max(span(at - 1));
        }
    }
    out.extend_from_slice(&tok[..parts]);
}

fn merge_long(vocab: &Vocab, piece: &[u8], out: &mut Vec<Rank>) {
    let n = piece.len();
    const NONE: u32 = u32::MAX;
    // Parts are named by the index of their first byte; a doubly linked list in arrays.
    let mut next: Vec<u32> = (1..=n as u32).collect();
    let mut prev: Vec<u32> = (0..n as u32).map(|i| i.wrapping_sub(1)).collect();
    next[n - 1] = NONE;
    prev[0] = NONE;
    let mut tok: Vec<Rank> = piece.iter().map(|&b| vocab.byte_rank(b)).collect();
    let mut pair: Vec<Rank> = vec![NO_RANK; n];
    let mut alive = vec![true; n];
    let mut heap = BinaryHeap::with_capacity(n);
    for i in 0..n - 1 {
        pair[i] = vocab.pair_rank(piece[i], piece[i + 1]);
        if pair[i] != NO_RANK {
            heap.push(Reverse((pair[i], i as u32)));
        }
    }
    // End (exclusive) of the part after `k`, i.e. of the merge of k and next[k].
    let pair_end = |next: &[u32], k: u32| -> usize {
        let j = next[k as usize];
        let after = next[j as usize];
        if after == NONE {
            n
        } else {
            after as usize
        }
    };
    while let Some(Reverse((rank, i))) = heap.pop() {
        let iu = i as usize;
        // Stale entries: the part was merged away, or its right neighbour changed.
        if !alive[iu] || pair[iu] != rank {
            continue;
        }
        let j = next[iu];
        tok[iu] = rank;
        alive[j as usize] = false;
        let after = next[j as usize];
        next[iu] = after;
        if after != NONE {
            prev[after as usize] = i;
            pair[iu] = vocab.rank_or_max(&piece[iu..pair_end(&next, i)]);
            if pair[iu] != NO_RANK {
                heap.push(Reverse((pair[iu], i)));
            }
        } else {
            pair[iu] = NO_RANK;
        }
        let p = prev[iu];
        if p != NONE {
            let pu = p as usize;
            pair[pu] = vocab.rank_or_max(&piece[pu..pair_end(&next, p)]);
            if pair[pu] != NO_RANK {
                heap.push(Reverse((pair[pu], p)));
            }
        }
    }
    let mut k = 0u32;
    while k != NONE {
        out.push(tok[k as usize]);
        k = next[k as usize];
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The rule written as plainly as possible, for comparison.
    pub(crate) fn reference(vocab: &Vocab, piece: &[u8]) -> Vec<Rank> {
        let mut parts: Vec<Vec<u8>> = piece.iter().map(|&b| vec![b]).collect();
        loop {
            let mut best: Option<(Rank, usize)> = None;
            for k in 0..parts.len().saturating_sub(1) {
                let joined = [parts[k].as_slice(), parts[k + 1].as_slice()].concat();
                if let Some(r) = vocab.rank(&joined) {
                    if best.is_none_or(|(b, _)| r < b) {
                        best = Some((r, k));
                    }
                }
            }
            let Some((_, k)) = best else { break };
            let right = parts.remove(k + 1);
            parts[k].extend(right);
        }
        parts.iter().map(|p| vocab.rank(p).unwrap()).collect()
    }

    fn toy_vocab() -> Vocab {
        let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        for t in [
            "ab", "bc", "abc", "aa", "aaaa", "cd", "abcd", "bcd", "dd", "aaa", "ba",
        ] {
            tokens.push(t.as_bytes().to_vec());
        }
        Vocab::from_pairs(
            tokens
                .iter()
                .enumerate()
                .map(|(r, t)| (t.as_slice(), r as Rank)),
        )
        .unwrap()
    }

    #[test]
    fn short_and_long_agree_with_reference() {
        let v = toy_vocab();
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for len in [1usize, 2, 3, 5, 17, 127, 128, 129, 300, 1000] {
            for _ in 0..50 {
                let piece: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        b"abcd"[(seed % 4) as usize]
                    })
                    .collect();
                let want = reference(&v, &piece);
                assert_eq!(encode_piece_vec(&v, &piece), want, "{:?}", piece);
                let mut long = Vec::new();
                if piece.len() > 1 {
                    merge_long(&v, &piece, &mut long);
                    assert_eq!(long, want);
                }
            }
        }
    }

    #[test]
    fn long_runs() {
        let v = toy_vocab();
        let piece = vec![b'a'; 100_001];
        let got = encode_piece_vec(&v, &piece);
        let total: usize = got.iter().map(|&r| v.token_bytes(r).len()).sum();
        assert_eq!(total, piece.len());
        assert_eq!(got[..3], [v.rank(b"aaaa").unwrap(); 3]);
    }
}
