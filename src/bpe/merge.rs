//! The BPE merge loop, once, for every rank rule.
//!
//! A word starts as a row of parts (single bytes or characters, each already a token); the loop
//! repeatedly merges the adjacent pair of lowest rank (ties: leftmost) until no adjacent pair
//! merges. What "rank" means is the caller's `MergeRule`:
//! * tiktoken: the rank of the pair's concatenated bytes in the vocabulary (`crate::bpe`),
//! * Hugging Face: the position of the pair's merge in `merges` (`crate::hf::model`).
//!
//! Two strategies, same result: `merge_scan` keeps the pair ranks in a flat array and scans it
//! for the minimum (cache-friendly, fastest for the short words natural text is made of);
//! `merge_heap` keeps a min-heap over a linked list, O(n log n), so no input is quadratic.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::vocab::{Rank, NO_RANK};

/// One part of a word: its token and its byte span in the word.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Part {
    pub id: Rank,
    pub start: u32,
    pub end: u32,
}

/// Which adjacent pairs merge, in which order, into which token.
pub trait MergeRule {
    /// The rank of merging `left` with `right`, or `NO_RANK` when they do not merge.
    fn rank(&self, left: &Part, right: &Part) -> Rank;
    /// The token that a merge of rank `rank` forms.
    fn merged(&self, rank: Rank) -> Rank;
}

/// Merge `parts` in place by repeated scans; `ranks[k]` must hold the rank of the pair
/// `(parts[k], parts[k + 1])` (`ranks.len() + 1 == parts.len()` when there are parts). Returns
/// the number of parts left (they are `parts[..n]`).
#[inline]
pub fn merge_scan<R: MergeRule>(rule: &R, parts: &mut [Part], ranks: &mut [Rank]) -> usize {
    let mut n = parts.len();
    if n < 2 {
        return n;
    }
    debug_assert_eq!(ranks.len() + 1, n);
    loop {
        // Leftmost minimum; two simple passes vectorise better than one that tracks the index.
        let live = &ranks[..n - 1];
        let best = live.iter().copied().min().unwrap_or(NO_RANK);
        if best == NO_RANK {
            return n;
        }
        let at = live.iter().position(|&r| r == best).unwrap_or(0);
        parts[at] = Part {
            id: rule.merged(best),
            start: parts[at].start,
            end: parts[at + 1].end,
        };
        parts.copy_within(at + 2..n, at + 1);
        ranks.copy_within(at + 1..n - 1, at);
        n -= 1;
        if at > 0 {
            ranks[at - 1] = rule.rank(&parts[at - 1], &parts[at]);
        }
        if at + 1 < n {
            ranks[at] = rule.rank(&parts[at], &parts[at + 1]);
        }
    }
}

/// Reusable buffers of `merge_heap`.
#[derive(Default)]
pub struct HeapScratch {
    prev: Vec<u32>,
    next: Vec<u32>,
    ranks: Vec<Rank>,
    alive: Vec<bool>,
    heap: BinaryHeap<Reverse<(Rank, u32)>>,
}

/// Merge `parts` in place with a min-heap of (rank, position) over a linked list of
/// parts (Hugging Face's `Word::merge_all`); stale entries, whose pair changed since they were
/// pushed, are skipped on pop. The merged parts are left in `parts`.
pub fn merge_heap<R: MergeRule>(rule: &R, parts: &mut Vec<Part>, scratch: &mut HeapScratch) {
    // No neighbour: the end of the linked list of parts (not a rank).
    const NONE: u32 = u32::MAX;
    let n = parts.len();
    if n < 2 {
        return;
    }
    let HeapScratch {
        prev,
        next,
        ranks,
        alive,
        heap,
    } = scratch;
    prev.clear();
    next.clear();
    ranks.clear();
    alive.clear();
    heap.clear();
    prev.extend((0..n as u32).map(|i| i.wrapping_sub(1)));
    next.extend(1..=n as u32);
    next[n - 1] = NONE;
    alive.resize(n, true);
    ranks.resize(n, NO_RANK);
    for i in 0..n - 1 {
        ranks[i] = rule.rank(&parts[i], &parts[i + 1]);
        if ranks[i] != NO_RANK {
            heap.push(Reverse((ranks[i], i as u32)));
        }
    }
    while let Some(Reverse((rank, i))) = heap.pop() {
        let iu = i as usize;
        // Stale entries: the part was merged away, or its right neighbour changed.
        if !alive[iu] || ranks[iu] != rank {
            continue;
        }
        let j = next[iu] as usize;
        parts[iu] = Part {
            id: rule.merged(rank),
            start: parts[iu].start,
            end: parts[j].end,
        };
        alive[j] = false;
        let after = next[j];
        next[iu] = after;
        if after != NONE {
            prev[after as usize] = i;
            ranks[iu] = rule.rank(&parts[iu], &parts[after as usize]);
            if ranks[iu] != NO_RANK {
                heap.push(Reverse((ranks[iu], i)));
            }
        } else {
            ranks[iu] = NO_RANK;
        }
        let p = prev[iu];
        if p != NONE {
            let pu = p as usize;
            ranks[pu] = rule.rank(&parts[pu], &parts[iu]);
            if ranks[pu] != NO_RANK {
                heap.push(Reverse((ranks[pu], p)));
            }
        }
    }
    let mut k = 0;
    parts.retain(|_| {
        k += 1;
        alive[k - 1]
    });
}
