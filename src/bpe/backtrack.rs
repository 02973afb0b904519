//! Linear-time exact BPE: a backtracking search over the vocabulary's trie.
//!
//! The approach of github/rust-gems `bpe` ("encode_via_backtracking"), rebuilt from tiktoken's rank
//! rule with every precondition checked on the vocabulary rather than assumed.
//!
//! Facts it rests on, for the rule "repeatedly merge the adjacent pair whose concatenated bytes
//! have the lowest rank, ties leftmost" (proofs by comparing the process on a whole text with the
//! process on a window of it: merges inside a window never depend on what lies outside it until a
//! merge crosses the window's edge):
//!
//! 1. Every part that ever forms is *reachable*: BPE of its own bytes gives that one token. Its
//!    *split* is the last merge of that run, so each reachable token has a merge tree.
//! 2. A sequence of reachable tokens is the BPE of its bytes iff every adjacent pair `(a, b)` is
//!    *valid*: BPE(a ++ b) = [a, b]. (If a merge ever crossed a boundary, the first such merge would
//!    also happen in the two-token window around it.) So the encoding of every prefix that ends on
//!    one of its token boundaries is a prefix of the encoding, and it is the only valid sequence.
//! 3. If every merge tree is heap-ordered (a token's rank is above its split's ranks, checked at
//!    build time), a token's merges happen in rank order, and `(a, b)` is valid iff no "cross pair"
//!    (a part ending at the boundary, a part starting there) is a token whose rank beats the next
//!    merge that would change one of those two parts; `keeps_boundary` walks those states back
//!    from (a, b) through the split tables.
//!
//! The encoder takes the longest reachable token at each position (trie walk) and, when a pair is
//! not valid, tries shorter prefixes and backtracks; positions proven to start no valid
//! completion are remembered, so the work stays linear. By (2) the sequence found is the BPE.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::vocab::{Rank, NO_RANK};

/// Ranks, and so the fields packed below, must fit in 21 bits.
pub(super) const RANK_BITS: u32 = 21;
pub(super) const RANK_MASK: u64 = (1 << RANK_BITS) - 1;
/// Trie node ids must fit in 22 bits (the character table packs them with 16 payload bits).
pub(super) const MAX_NODES: usize = 1 << 22;
/// A trie cursor (an edge's child, or an entry of `first2`/`first3`/`space3`) is a node id in the
/// low `ID_BITS` bits plus flags. `EMITTABLE`: the node is a reachable token (its id is then its rank).
pub(super) const EMITTABLE: u32 = 1 << 31;
/// `LEAF`: no token extends the node, so a walk stops there without another probe.
pub(super) const LEAF: u32 = 1 << 30;
/// `CHARSTEP`: no reachable token ends inside a 3-byte UTF-8 character that follows the node, so
/// a walk may cross such a character in one step of the character table.
pub(super) const CHARSTEP: u32 = 1 << 29;
pub(super) const ID_BITS: u32 = 22;
pub(super) const ID_MASK: u32 = (1 << ID_BITS) - 1;
/// No rank / no node; as a cursor it has `LEAF` set, so a walk stops on it.
pub(super) const NONE: u32 = NO_RANK;
/// Slots of the pair-validity memo (4 bytes each, 2 MB); a slot stores the other 42 - 19 bits of
/// the pair's key.
pub(super) const MEMO_BITS: u32 = 19;
pub(super) const MEMO_SLOTS: usize = 1 << MEMO_BITS;

/// The tables of the backtracking encoder for one vocabulary.
pub struct Backtrack {
    /// Byte length of each reachable token; 0 for holes and unreachable tokens.
    pub(super) token_len: Vec<u8>,
    /// The merge that forms each reachable token last: `[left, right]`; `[t, t]` for one byte.
    pub(super) split: Vec<[Rank; 2]>,
    /// The longest reachable token that is a proper prefix of each token, or `NONE`.
    pub(super) next_prefix: Vec<Rank>,
    /// Rank of every byte.
    pub(super) byte_token: [Rank; 256],
    /// Node ids below this are tokens (id = rank); it is the root's id.
    pub(super) root: u32,
    /// The walk's start for a text beginning with bytes `b0 b1`: high half the longest
    /// reachable token among its first one or two bytes, low half the cursor after `b0 b1`
    /// (`NONE` if no token starts with them).
    pub(super) first2: Vec<u64>,
    /// The same after the first character when a text starts with a 3-byte UTF-8 sequence (CJK,
    /// Hangul), indexed by its 16 payload bits.
    pub(super) first3: Vec<u64>,
    /// The same for a space then a 3-byte sequence (a Korean word's piece starts so).
    pub(super) space3: Vec<u64>,
    /// Trie edges, open addressing: low half `(node << 8 | byte) + 1` (0 = empty slot), high half
    /// the child's cursor. A token's node id is its rank; other nodes are numbered from
    /// `n_ranks + 1` (`n_ranks` is the root).
    pub(super) edges: Vec<u64>,
    pub(super) edge_mask: usize,
    /// Whole 3-byte characters from `CHARSTEP` nodes: `1 << 63 | (node << 16 | payload) << 25 |`
    /// the child's cursor packed in 25 bits (see `pack_cursor`), open addressing, 0 = empty.
    pub(super) chars: Vec<u64>,
    /// Every split of a token into two tokens: `(a, b) -> rank of a ++ b` (see `PairTable`).
    pub(super) pairs: Vec<u64>,
    /// One bit per hash of a pair key, set for the keys in `pairs`: most pairs asked about are
    /// not tokens, and this 16-bits-per-pair filter answers them from a far smaller array.
    pub(super) pair_filter: Vec<u64>,
    /// Direct-mapped memo of `valid_pair`: `1 << 31 | tag << 1 | valid`, 0 = empty.
    /// Each slot is written whole, so racing threads only ever read a correct entry or a miss.
    pub(super) memo: Vec<AtomicU32>,
}

#[inline(always)]
pub(super) fn mix(x: u64) -> u64 {
    let x = (x ^ (x >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29)
}

/// The map of all token splits, `(a, b) -> merged`, with ranks below `2^21`.
pub(super) struct PairTable {
    pub(super) slots: Vec<u64>,
    pub(super) used: usize,
}

impl PairTable {
    #[inline(always)]
    pub(super) fn key(a: Rank, b: Rank) -> u64 {
        (a as u64 + 1) << (2 * RANK_BITS) | (b as u64) << RANK_BITS
    }

    #[inline(always)]
    pub(super) fn find(slots: &[u64], a: Rank, b: Rank) -> Option<Rank> {
        let key = Self::key(a, b);
        let mask = slots.len() - 1;
        let mut i = mix(key) as usize & mask;
        loop {
            let s = slots[i];
            if s & !RANK_MASK == key {
                return Some((s & RANK_MASK) as Rank);
            }
            if s == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }
}

#[inline(always)]
pub(super) fn unpack_cursor(p: u64) -> u32 {
    (p as u32 & ID_MASK) | (p as u32 >> ID_BITS) << 29
}

/// Key of a whole-character step: the node and the character's 16 payload bits.
#[inline(always)]
pub(super) fn char_key(node: u32, payload: u32) -> u64 {
    ((node & ID_MASK) as u64) << 16 | payload as u64
}

pub(super) const PACKED_MASK: u64 = (1 << 25) - 1;

/// The 16 payload bits of a 3-byte UTF-8 sequence, or `None` if `b` does not start with one.
#[inline(always)]
pub(super) fn payload3(b: &[u8]) -> Option<u32> {
    match *b {
        [b0, b1, b2, ..] if b0 & 0xF0 == 0xE0 && b1 & 0xC0 == 0x80 && b2 & 0xC0 == 0x80 => {
            Some(((b0 & 0x0F) as u32) << 12 | ((b1 & 0x3F) as u32) << 6 | (b2 & 0x3F) as u32)
        }
        _ => None,
    }
}

/// The filter's bit for a pair key (other hash bits than the table's slot index).
#[inline(always)]
pub(super) fn filter_bit(key: u64, bits: usize) -> usize {
    (mix(key) >> 32) as usize & (bits - 1)
}

impl Backtrack {
    /// Approximate heap bytes held.
    pub fn heap_size(&self) -> usize {
        self.token_len.capacity()
            + self.split.capacity() * 8
            + self.next_prefix.capacity() * 4
            + (self.first2.capacity() + self.first3.capacity() + self.space3.capacity()) * 8
            + (self.edges.capacity() + self.chars.capacity()) * 8
            + (self.pairs.capacity() + self.pair_filter.capacity()) * 8
            + self.memo.capacity() * 4
    }

    /// Walk the trie along `text` (at least two bytes): the longest reachable token that is a
    /// prefix of it, and the cursor after all of `text` (`NONE` if no token starts with it).
    #[inline]
    fn walk(&self, text: &[u8]) -> (Rank, u32) {
        let n = text.len();
        let (e, mut i) = match (text[0], payload3(text), payload3(&text[1..])) {
            (_, Some(p), _) => (self.first3[p as usize], 3),
            (b' ', _, Some(p)) => (self.space3[p as usize], 4),
            (b0, _, _) => (self.first2[(b0 as usize) << 8 | text[1] as usize], 2),
        };
        let mut best = (e >> 32) as Rank;
        let mut cursor = e as u32;
        while i < n {
            if cursor & LEAF != 0 {
                return (best, NONE);
            }
            if cursor & CHARSTEP != 0 {
                if let Some(payload) = payload3(&text[i..]) {
                    match self.char_step(cursor, payload) {
                        Some(c) => {
                            cursor = c;
                            if c & EMITTABLE != 0 {
                                best = c & ID_MASK;
                            }
                            i += 3;
                            continue;
                        }
                        None => return (best, NONE),
                    }
                }
            }
            let key = ((cursor & ID_MASK) << 8 | text[i] as u32).wrapping_add(1);
            let mut s = mix((key - 1) as u64) as usize & self.edge_mask;
            loop {
                let slot = self.edges[s];
                if slot as u32 == key {
                    cursor = (slot >> 32) as u32;
                    if cursor & EMITTABLE != 0 {
                        best = cursor & ID_MASK;
                    }
                    break;
                }
                if slot == 0 {
                    return (best, NONE);
                }
                s = (s + 1) & self.edge_mask;
            }
            i += 1;
        }
        (best, cursor)
    }

    /// The cursor after a whole 3-byte character from a `CHARSTEP` node, if a token goes on so.
    #[inline(always)]
    fn char_step(&self, cursor: u32, payload: u32) -> Option<u32> {
        let key = char_key(cursor, payload);
        let want = 1 << 63 | key << 25;
        let mask = self.chars.len() - 1;
        let mut i = mix(key) as usize & mask;
        loop {
            let s = self.chars[i];
            if s & !PACKED_MASK == want {
                return Some(unpack_cursor(s & PACKED_MASK));
            }
            if s == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// The longest reachable token that is a prefix of `text` (not empty).
    #[inline]
    fn longest_match(&self, text: &[u8]) -> Rank {
        match text.len() {
            1 => self.byte_token[text[0] as usize],
            _ => self.walk(text).0,
        }
    }

    /// Whether a pair of tokens splits some token, and of which rank.
    #[inline]
    fn merged(&self, a: Rank, b: Rank) -> Option<Rank> {
        let bit = filter_bit(PairTable::key(a, b), self.pair_filter.len() * 64);
        if self.pair_filter[bit / 64] >> (bit % 64) & 1 == 0 {
            return None;
        }
        PairTable::find(&self.pairs, a, b)
    }

    #[inline]
    fn len_of(&self, t: Rank) -> usize {
        self.token_len[t as usize] as usize
    }

    /// Whether BPE of `a ++ b` is `[a, b]` (both reachable), memoized.
    #[inline]
    fn valid_pair(&self, a: Rank, b: Rank) -> bool {
        // A bijection of the 42-bit pair key: its low bits pick the slot, the rest are stored, so
        // a slot names its pair exactly.
        let mut x = (a as u64) << RANK_BITS | b as u64;
        x ^= x >> 21;
        x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15) & ((1 << 42) - 1);
        x ^= x >> 21;
        let slot = &self.memo[x as usize & (MEMO_SLOTS - 1)];
        let want = 1 << 31 | ((x >> MEMO_BITS) as u32) << 1;
        let s = slot.load(Ordering::Relaxed);
        if s & !1 == want {
            return s & 1 != 0;
        }
        let valid = keeps_boundary(|l, r| self.merged(l, r), &self.split, a, b, true);
        slot.store(want | valid as u32, Ordering::Relaxed);
        valid
    }

    /// tiktoken's encoding of one pre-tokenized piece (not empty): the piece's own token when it
    /// is one (even a token that BPE would not form), else its BPE. Same contract as `encode`.
    pub fn encode_word(&self, piece: &[u8], out: &mut Vec<Rank>) -> bool {
        if piece.len() == 1 {
            out.push(self.byte_token[piece[0] as usize]);
            return true;
        }
        let (first, end) = self.walk(piece);
        if end != NONE && end & ID_MASK < self.root {
            out.push(end & ID_MASK);
            return true;
        }
        self.encode_from(piece, first, out)
    }

    /// Append the BPE tokens of `piece` (not empty) to `out`. Returns false (with `out` in an
    /// unspecified state past its old length) only if the search fails, which facts 1-3 rule out;
    /// the caller then falls back to the merge algorithm rather than trust this module.
    pub fn encode(&self, piece: &[u8], out: &mut Vec<Rank>) -> bool {
        self.encode_from(piece, self.longest_match(piece), out)
    }

    /// `encode`, given the longest token at the start of `piece`.
    #[inline]
    fn encode_from(&self, piece: &[u8], first: Rank, out: &mut Vec<Rank>) -> bool {
        let base = out.len();
        let n = piece.len();
        let mut pos = 0;
        // Greedy first: the longest token at each position is almost always right.
        let mut token = first;
        loop {
            if out.len() > base && !self.valid_pair(out[out.len() - 1], token) {
                break;
            }
            out.push(token);
            pos += self.len_of(token);
            if pos == n {
                return true;
            }
            token = self.longest_match(&piece[pos..]);
        }
        self.backtrack(piece, base, pos, token, out)
    }

    /// Depth-first search for the valid token sequence, longest tokens first, continuing from
    /// the greedy pass: `out[base..]` covers `piece[..pos]` and `token` was refused at `pos`.
    #[cold]
    fn backtrack(
        &self,
        piece: &[u8],
        base: usize,
        mut pos: usize,
        token: Rank,
        out: &mut Vec<Rank>,
    ) -> bool {
        let n = piece.len();
        // Bit p clear: no valid sequence for the whole piece has a boundary at p. (A valid
        // sequence up to p is unique (fact 2), so failing once from p fails for every path.)
        let mut open = vec![!0u64; n / 64 + 1];
        let mut next = Some(token);
        while let Some(mut token) = next {
            let last = (out.len() > base).then(|| out[out.len() - 1]);
            loop {
                let end = pos + self.len_of(token);
                let end_open = open[end / 64] >> (end % 64) & 1 != 0;
                if end_open && last.is_none_or(|l| self.valid_pair(l, token)) {
                    out.push(token);
                    pos = end;
                    next = (pos < n).then(|| self.longest_match(&piece[pos..]));
                    break;
                }
                let shorter = self.next_prefix[token as usize];
                if shorter != NONE {
                    token = shorter;
                    continue;
                }
                open[pos / 64] &= !(1 << (pos % 64));
                next = last;
                if let Some(l) = last {
                    out.pop();
                    pos -= self.len_of(l);
                }
                break;
            }
        }
        debug_assert_eq!(pos, n, "BPE search found no valid token sequence");
        pos == n
    }
}

/// Whether BPE of `a ++ b` keeps the boundary between `a` and `b`: for ever when `whole`, else
/// until both are formed (then `a ++ b` itself may merge: that is how a token forms last).
///
/// Walks the pairs (part of `a` ending at the boundary, part of `b` starting there) back in time
/// from `(a, b)`, undoing each time the later of the merges that formed them. A pair is undone
/// at a merge of rank `limit`; the cross pair, if a token of rank `c`, would have merged first
/// if `c < limit` for a merge on the left (ties go to the left pair) or `c <= limit` on the right.
pub(super) fn keeps_boundary(
    merged: impl Fn(Rank, Rank) -> Option<Rank>,
    split: &[[Rank; 2]],
    a: Rank,
    b: Rank,
    whole: bool,
) -> bool {
    let (mut l, mut r) = (a, b);
    let mut limit = NO_RANK; // a cross pair of rank below this merges before (l, r) changes
    let mut check = whole;
    loop {
        if check {
            if let Some(c) = merged(l, r) {
                if c < limit {
                    return false;
                }
            }
        }
        check = true;
        let l_leaf = split[l as usize][1] == l;
        let r_leaf = split[r as usize][0] == r;
        if !l_leaf && (r_leaf || l > r) {
            limit = l;
            l = split[l as usize][1];
        } else if !r_leaf {
            limit = r + 1;
            r = split[r as usize][0];
        } else {
            return true;
        }
    }
}
