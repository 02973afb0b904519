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
const RANK_BITS: u32 = 21;
const RANK_MASK: u64 = (1 << RANK_BITS) - 1;
/// Trie node ids must fit in 22 bits (the character table packs them with 16 payload bits).
const MAX_NODES: usize = 1 << 22;
/// A trie cursor (an edge's child, or an entry of `first2`/`first3`/`space3`) is a node id in the
/// low `ID_BITS` bits plus flags. `EMITTABLE`: the node is a reachable token (its id is then its rank).
const EMITTABLE: u32 = 1 << 31;
/// `LEAF`: no token extends the node, so a walk stops there without another probe.
const LEAF: u32 = 1 << 30;
/// `CHARSTEP`: no reachable token ends inside a 3-byte UTF-8 character that follows the node, so
/// a walk may cross such a character in one step of the character table.
const CHARSTEP: u32 = 1 << 29;
const ID_BITS: u32 = 22;
const ID_MASK: u32 = (1 << ID_BITS) - 1;
/// No rank / no node; as a cursor it has `LEAF` set, so a walk stops on it.
const NONE: u32 = u32::MAX;
/// Slots of the pair-validity memo (4 bytes each, 2 MB); a slot stores the other 42 - 19 bits of
/// the pair's key.
const MEMO_BITS: u32 = 19;
const MEMO_SLOTS: usize = 1 << MEMO_BITS;

/// The tables of the backtracking encoder for one vocabulary.
pub struct Backtrack {
    /// Byte length of each reachable token; 0 for holes and unreachable tokens.
    token_len: Vec<u8>,
    /// The merge that forms each reachable token last: `[left, right]`; `[t, t]` for one byte.
    split: Vec<[Rank; 2]>,
    /// The longest reachable token that is a proper prefix of each token, or `NONE`.
    next_prefix: Vec<Rank>,
    /// Rank of every byte.
    byte_token: [Rank; 256],
    /// Node ids below this are tokens (id = rank); it is the root's id.
    root: u32,
    /// The walk's start for a text beginning with bytes `b0 b1`: high half the longest
    /// reachable token among its first one or two bytes, low half the cursor after `b0 b1`
    /// (`NONE` if no token starts with them).
    first2: Vec<u64>,
    /// The same after the first character when a text starts with a 3-byte UTF-8 sequence (CJK,
    /// Hangul), indexed by its 16 payload bits.
    first3: Vec<u64>,
    /// The same for a space then a 3-byte sequence (a Korean word's piece starts so).
    space3: Vec<u64>,
    /// Trie edges, open addressing: low half `(node << 8 | byte) + 1` (0 = empty slot), high half
    /// the child's cursor. A token's node id is its rank; other nodes are numbered from
    /// `n_ranks + 1` (`n_ranks` is the root).
    edges: Vec<u64>,
    edge_mask: usize,
    /// Whole 3-byte characters from `CHARSTEP` nodes: `1 << 63 | (node << 16 | payload) << 25 |`
    /// the child's cursor packed in 25 bits (see `pack_cursor`), open addressing, 0 = empty.
    chars: Vec<u64>,
    /// Every split of a token into two tokens: `(a, b) -> rank of a ++ b` (see `PairTable`).
    pairs: Vec<u64>,
    /// One bit per hash of a pair key, set for the keys in `pairs`: most pairs asked about are
    /// not tokens, and this 16-bits-per-pair filter answers them from a far smaller array.
    pair_filter: Vec<u64>,
    /// Direct-mapped memo of `valid_pair`: `1 << 31 | tag << 1 | valid`, 0 = empty.
    /// Each slot is written whole, so racing threads only ever read a correct entry or a miss.
    memo: Vec<AtomicU32>,
}

#[inline(always)]
fn mix(x: u64) -> u64 {
    let x = (x ^ (x >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29)
}

/// Open-addressing map `(u32 key) -> u32 value` packed in `u64` slots (key + 1 in the low half).
struct EdgeTable {
    slots: Vec<u64>,
    used: usize,
}

impl EdgeTable {
    fn with_capacity(n: usize) -> Self {
        EdgeTable {
            slots: vec![0; (n * 2).next_power_of_two().max(1024)],
            used: 0,
        }
    }

    #[inline(always)]
    fn find(slots: &[u64], key: u32) -> Option<u32> {
        let mask = slots.len() - 1;
        let mut i = mix(key as u64) as usize & mask;
        loop {
            let s = slots[i];
            if s as u32 == key.wrapping_add(1) {
                return Some((s >> 32) as u32);
            }
            if s == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    fn insert(&mut self, key: u32, value: u32) {
        if (self.used + 1) * 2 > self.slots.len() {
            let grown = vec![0; self.slots.len() * 2];
            let old = std::mem::replace(&mut self.slots, grown);
            self.used = 0;
            for s in old.into_iter().filter(|&s| s != 0) {
                self.insert((s as u32).wrapping_sub(1), (s >> 32) as u32);
            }
        }
        let mask = self.slots.len() - 1;
        let mut i = mix(key as u64) as usize & mask;
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = (value as u64) << 32 | key.wrapping_add(1) as u64;
        self.used += 1;
    }

    /// Shrink to a load of at most 0.5 (the build over-allocates).
    fn into_compact(self) -> Vec<u64> {
        let mut t = EdgeTable::with_capacity(self.used);
        if t.slots.len() >= self.slots.len() {
            return self.slots;
        }
        for s in self.slots.into_iter().filter(|&s| s != 0) {
            t.insert((s as u32).wrapping_sub(1), (s >> 32) as u32);
        }
        t.slots
    }
}

/// The map of all token splits, `(a, b) -> merged`, with ranks below `2^21`.
struct PairTable {
    slots: Vec<u64>,
    used: usize,
}

impl PairTable {
    #[inline(always)]
    fn key(a: Rank, b: Rank) -> u64 {
        (a as u64 + 1) << (2 * RANK_BITS) | (b as u64) << RANK_BITS
    }

    #[inline(always)]
    fn find(slots: &[u64], a: Rank, b: Rank) -> Option<Rank> {
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

    fn insert(&mut self, a: Rank, b: Rank, merged: Rank) {
        if (self.used + 1) * 2 > self.slots.len() {
            let grown = vec![0; self.slots.len() * 2];
            let old = std::mem::replace(&mut self.slots, grown);
            self.used = 0;
            for s in old.into_iter().filter(|&s| s != 0) {
                let a = (s >> (2 * RANK_BITS)) as Rank - 1;
                let b = (s >> RANK_BITS & RANK_MASK) as Rank;
                self.insert(a, b, (s & RANK_MASK) as Rank);
            }
        }
        let key = Self::key(a, b);
        let mask = self.slots.len() - 1;
        let mut i = mix(key) as usize & mask;
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = key | merged as u64;
        self.used += 1;
    }
}

/// A cursor in 25 bits: the id and the three flags.
#[inline(always)]
fn pack_cursor(c: u32) -> u64 {
    ((c & ID_MASK) | (c >> 29) << ID_BITS) as u64
}

#[inline(always)]
fn unpack_cursor(p: u64) -> u32 {
    (p as u32 & ID_MASK) | (p as u32 >> ID_BITS) << 29
}

/// Key of a whole-character step: the node and the character's 16 payload bits.
#[inline(always)]
fn char_key(node: u32, payload: u32) -> u64 {
    ((node & ID_MASK) as u64) << 16 | payload as u64
}

const PACKED_MASK: u64 = (1 << 25) - 1;

/// The 16 payload bits of a 3-byte UTF-8 sequence, or `None` if `b` does not start with one.
#[inline(always)]
fn payload3(b: &[u8]) -> Option<u32> {
    match *b {
        [b0, b1, b2, ..] if b0 & 0xF0 == 0xE0 && b1 & 0xC0 == 0x80 && b2 & 0xC0 == 0x80 => {
            Some(((b0 & 0x0F) as u32) << 12 | ((b1 & 0x3F) as u32) << 6 | (b2 & 0x3F) as u32)
        }
        _ => None,
    }
}

/// The filter's bit for a pair key (other hash bits than the table's slot index).
#[inline(always)]
fn filter_bit(key: u64, bits: usize) -> usize {
    (mix(key) >> 32) as usize & (bits - 1)
}

impl Backtrack {
    /// Derive the tables from a vocabulary given by `token(rank)` (empty for a hole) and
    /// `rank(bytes)`. `None` when the encoder's preconditions do not hold: a byte without a
    /// token, a token longer than 255 bytes, ranks or trie nodes beyond the packed widths, or a
    /// merge tree that is not heap-ordered. BPE then keeps to the merge algorithm.
    pub fn build<'a>(
        n_ranks: usize,
        token: impl Fn(Rank) -> &'a [u8],
        rank: impl Fn(&[u8]) -> Option<Rank>,
    ) -> Option<Backtrack> {
        if n_ranks + 1 >= 1 << RANK_BITS {
            return None;
        }
        let mut byte_token = [NONE; 256];
        for b in 0..=255u8 {
            byte_token[b as usize] = rank(&[b])?;
        }
        // Shorter tokens first: a token's prefixes and halves are then already known.
        let mut by_len: Vec<Vec<Rank>> = vec![Vec::new(); 256];
        let mut total_bytes = 0;
        for r in 0..n_ranks as Rank {
            let len = token(r).len();
            if len > 255 {
                return None;
            }
            if len > 0 {
                by_len[len].push(r);
                total_bytes += len;
            }
        }
        let root = n_ranks as u32;
        let mut next_node = root + 1;
        // Sized for OpenAI's vocabularies (about 0.3 trie nodes and 0.35 splits per token byte),
        // so neither table grows; others grow by doubling.
        let mut edges = EdgeTable::with_capacity(total_bytes * 3 / 10);
        let mut pairs = PairTable {
            slots: vec![0; (total_bytes * 7 / 10).next_power_of_two().max(1024)],
            used: 0,
        };
        let mut token_len = vec![0u8; n_ranks];
        let mut split = vec![[NONE; 2]; n_ranks];
        let mut next_prefix = vec![NONE; n_ranks];
        let edge_key = |node: u32, b: u8| node << 8 | b as u32;
        for (len, ranks) in by_len.iter().enumerate().skip(1) {
            for &t in ranks {
                let bytes = token(t);
                // Walk (and extend) the trie along all but the last byte; every token met is a
                // prefix `a`, to pair with the rest of the token when that is a token too.
                let mut node = root;
                let mut last_split = None;
                for i in 1..len {
                    let key = edge_key(node, bytes[i - 1]);
                    let child = match EdgeTable::find(&edges.slots, key) {
                        Some(c) => c & ID_MASK,
                        None => {
                            if next_node as usize >= MAX_NODES {
                                return None;
                            }
                            next_node += 1;
                            edges.insert(key, next_node - 1);
                            next_node - 1
                        }
                    };
                    node = child;
                    if child >= root {
                        continue;
                    }
                    let a = child;
                    if token_len[a as usize] != 0 {
                        next_prefix[t as usize] = a;
                    }
                    let Some(b) = rank(&bytes[i..]) else { continue };
                    pairs.insert(a, b, t);
                    let reachable = token_len[a as usize] != 0 && token_len[b as usize] != 0;
                    if last_split.is_none()
                        && reachable
                        && keeps_boundary(
                            |l, r| PairTable::find(&pairs.slots, l, r),
                            &split,
                            a,
                            b,
                            false,
                        )
                    {
                        last_split = Some([a, b]);
                    }
                }
                let emittable = match (len, last_split) {
                    (1, _) => {
                        split[t as usize] = [t, t];
                        true
                    }
                    (_, Some([a, b])) => {
                        if a >= t || b >= t {
                            return None; // not heap-ordered: `keeps_boundary` would be wrong
                        }
                        split[t as usize] = [a, b];
                        true
                    }
                    (_, None) => false, // BPE of its own bytes is not this token: never emitted
                };
                if emittable {
                    token_len[t as usize] = len as u8;
                }
                let flag = if emittable { EMITTABLE } else { 0 };
                edges.insert(edge_key(node, bytes[len - 1]), t | flag);
            }
        }
        // Mark the leaves, so walks stop on them without a failing probe.
        let n_nodes = next_node as usize;
        let mut parent = vec![NONE; n_nodes];
        let mut in_byte = vec![0u8; n_nodes];
        for &slot in edges.slots.iter().filter(|&&s| s != 0) {
            let (key, child) = (slot as u32 - 1, (slot >> 32) as u32 & ID_MASK);
            parent[child as usize] = key >> 8;
            in_byte[child as usize] = key as u8;
        }
        let mut has_child = vec![false; n_nodes];
        // Nodes below which a reachable token ends inside a following 3-byte character.
        let mut mid_char = vec![false; n_nodes];
        let lead = |b: u8| b & 0xF0 == 0xE0;
        let cont = |b: u8| b & 0xC0 == 0x80;
        for &slot in edges.slots.iter().filter(|&&s| s != 0) {
            let (p, child) = ((slot as u32 - 1) >> 8, (slot >> 32) as u32);
            has_child[p as usize] = true;
            if child & EMITTABLE == 0 {
                continue;
            }
            let b = in_byte[(child & ID_MASK) as usize];
            if lead(b) {
                mid_char[p as usize] = true;
            } else if cont(b) && lead(in_byte[p as usize]) && p != root {
                mid_char[parent[p as usize] as usize] = true;
            }
        }
        for slot in edges.slots.iter_mut().filter(|s| **s != 0) {
            let child = ((*slot >> 32) as u32 & ID_MASK) as usize;
            if !has_child[child] {
                *slot |= (LEAF as u64) << 32;
            }
            if !mid_char[child] {
                *slot |= (CHARSTEP as u64) << 32;
            }
        }
        // Every whole 3-byte character below a `CHARSTEP` node.
        let mut steps = Vec::new();
        for &slot in edges.slots.iter().filter(|&&s| s != 0) {
            let c3 = (slot >> 32) as u32;
            let c2 = parent[(c3 & ID_MASK) as usize];
            if c2 == root || !cont(in_byte[(c3 & ID_MASK) as usize]) || !cont(in_byte[c2 as usize])
            {
                continue;
            }
            let c1 = parent[c2 as usize];
            if c1 == root || !lead(in_byte[c1 as usize]) {
                continue;
            }
            let p = parent[c1 as usize];
            let bytes = [
                in_byte[c1 as usize],
                in_byte[c2 as usize],
                in_byte[(c3 & ID_MASK) as usize],
            ];
            if p != root && !mid_char[p as usize] {
                steps.push((char_key(p, payload3(&bytes).unwrap_or(0)), c3));
            }
        }
        let mut chars = vec![0u64; (steps.len() * 2).next_power_of_two().max(64)];
        let char_mask = chars.len() - 1;
        for (key, cursor) in steps {
            let mut i = mix(key) as usize & char_mask;
            while chars[i] != 0 {
                i = (i + 1) & char_mask;
            }
            chars[i] = 1 << 63 | key << 25 | pack_cursor(cursor);
        }
        let edges = edges.into_compact();
        let step = |cursor: u32, b: u8| match cursor & LEAF {
            0 => EdgeTable::find(&edges, edge_key(cursor & ID_MASK, b)),
            _ => None,
        };
        let entry = |best: Rank, cursor: Option<u32>| {
            let c = cursor.unwrap_or(NONE);
            let best = if c & EMITTABLE != 0 && c != NONE {
                c & ID_MASK
            } else {
                best
            };
            (best as u64) << 32 | c as u64
        };
        let mut first2 = vec![0u64; 1 << 16];
        for b0 in 0..=255u8 {
            let c0 = EdgeTable::find(&edges, edge_key(root, b0));
            for b1 in 0..=255u8 {
                let c1 = c0.and_then(|c| step(c, b1));
                first2[(b0 as usize) << 8 | b1 as usize] = entry(byte_token[b0 as usize], c1);
            }
        }
        let mut first3 = vec![0u64; 1 << 16];
        let mut space3 = vec![0u64; 1 << 16];
        for i in 0..1 << 16 {
            let (b0, b1, b2) = (
                0xE0 | (i >> 12) as u8,
                0x80 | (i >> 6 & 63) as u8,
                0x80 | (i & 63) as u8,
            );
            let e2 = first2[(b0 as usize) << 8 | b1 as usize];
            first3[i] = entry((e2 >> 32) as Rank, step(e2 as u32, b2));
            let e = first2[0x20 << 8 | b0 as usize];
            let e3 = entry((e >> 32) as Rank, step(e as u32, b1));
            space3[i] = entry((e3 >> 32) as Rank, step(e3 as u32, b2));
        }
        let mut pair_filter = vec![0u64; (pairs.used * 16).next_power_of_two().max(64) / 64];
        let bits = pair_filter.len() * 64;
        for &slot in pairs.slots.iter().filter(|&&s| s != 0) {
            let bit = filter_bit(slot & !RANK_MASK, bits);
            pair_filter[bit / 64] |= 1 << (bit % 64);
        }
        Some(Backtrack {
            token_len,
            split,
            next_prefix,
            byte_token,
            root,
            first2,
            first3,
            space3,
            edge_mask: edges.len() - 1,
            edges,
            chars,
            pairs: pairs.slots,
            pair_filter,
            memo: (0..MEMO_SLOTS).map(|_| AtomicU32::new(0)).collect(),
        })
    }

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
fn keeps_boundary(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpe::encode_by_merging;
    use crate::bpe::tests::reference;
    use crate::pretok::{Pretokenizer, CL100K_PATTERN, O200K_PATTERN, R50K_PATTERN};
    use crate::vocab::Vocab;
    use std::collections::HashSet;
    use std::io::Read;
    use std::path::PathBuf;

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn repo_path(rel: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
    }

    /// A bundled vocabulary, or `None` (with a note) when the data file is absent.
    fn bundled(name: &str) -> Option<Vocab> {
        let path = repo_path(&format!("python/toklm/data/{name}.ranks.z"));
        let Ok(z) = std::fs::read(&path) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "missing {path:?}"
            );
            eprintln!("skipped: {} not found", path.display());
            return None;
        };
        let mut blob = Vec::new();
        flate2::read::ZlibDecoder::new(&z[..])
            .read_to_end(&mut blob)
            .unwrap();
        Some(Vocab::from_compact(&blob).unwrap())
    }

    fn fast(v: &Vocab) -> &Backtrack {
        v.wait_fast_bpe()
            .expect("backtracking tables for this vocabulary")
    }

    /// The backtracking encoder against the merge algorithm.
    fn check(v: &Vocab, bt: &Backtrack, piece: &[u8]) {
        let mut got = Vec::new();
        assert!(bt.encode(piece, &mut got), "search failed on {piece:?}");
        let mut want = Vec::new();
        encode_by_merging(v, piece, &mut want);
        assert_eq!(got, want, "piece {:?}", String::from_utf8_lossy(piece));
    }

    const VOCABS: [(&str, &str); 3] = [
        ("r50k_base", R50K_PATTERN),
        ("cl100k_base", CL100K_PATTERN),
        ("o200k_base", O200K_PATTERN),
    ];

    #[test]
    fn every_token_encodes_to_itself() {
        for (name, _) in VOCABS {
            let Some(v) = bundled(name) else { continue };
            let bt = fast(&v);
            for (bytes, r) in v.iter() {
                let mut got = Vec::new();
                assert!(bt.encode(bytes, &mut got));
                // All tokens of OpenAI's vocabularies are reachable (the merge path agrees).
                assert_eq!(got, [r], "{name} token {r}");
                if bytes.len() > 1 {
                    check(&v, bt, bytes);
                }
            }
        }
    }

    #[test]
    fn corpus_pieces_match_merging() {
        let dir = repo_path("../shared/corpora");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "missing {dir:?}"
            );
            eprintln!("skipped: {} not found", dir.display());
            return;
        };
        let texts: Vec<String> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "txt"))
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        assert!(!texts.is_empty());
        for (name, pattern) in VOCABS {
            let Some(v) = bundled(name) else { continue };
            let bt = fast(&v);
            let pretok = Pretokenizer::new(pattern).unwrap();
            let mut seen = HashSet::new();
            for text in &texts {
                pretok
                    .for_each_piece(text, |s, e| {
                        let piece = &text.as_bytes()[s..e];
                        if piece.len() > 1 && seen.insert(piece) {
                            check(&v, bt, piece);
                        }
                    })
                    .unwrap();
            }
            assert!(seen.len() > 10_000, "{name}: {} pieces", seen.len());
        }
    }

    /// A random piece: random bytes, a run of one byte, or random (often cut) tokens joined.
    fn random_piece(rng: &mut Rng, v: &Vocab, tokens: &[&[u8]]) -> Vec<u8> {
        let len = match rng.below(20) {
            0 => 512 + rng.below(1500),
            1..=5 => 64 + rng.below(448),
            _ => 1 + rng.below(64),
        };
        let mut piece = Vec::with_capacity(len + 128);
        match rng.below(8) {
            0 => piece.extend((0..len).map(|_| rng.next() as u8)),
            1 => piece.resize(len, rng.next() as u8),
            2 => {
                let alphabet: Vec<u8> = (0..1 + rng.below(4)).map(|_| rng.next() as u8).collect();
                piece.extend((0..len).map(|_| alphabet[rng.below(alphabet.len())]));
            }
            _ => {
                while piece.len() < len {
                    let t = tokens[rng.below(tokens.len())];
                    let cut = if rng.below(4) == 0 {
                        rng.below(t.len()) + 1
                    } else {
                        t.len()
                    };
                    piece.extend_from_slice(&t[..cut]);
                }
                piece.truncate(len);
            }
        }
        let _ = v;
        piece
    }

    #[test]
    fn random_pieces_match_merging() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for (name, _) in VOCABS {
            let Some(v) = bundled(name) else { continue };
            let bt = fast(&v);
            let tokens: Vec<&[u8]> = v.iter().map(|(b, _)| b).collect();
            for i in 0..120_000 {
                let piece = random_piece(&mut rng, &v, &tokens);
                check(&v, bt, &piece);
                if i % 100 == 0 && piece.len() <= 200 {
                    let mut got = Vec::new();
                    bt.encode(&piece, &mut got);
                    assert_eq!(got, reference(&v, &piece), "{piece:?}");
                }
            }
        }
    }

    #[test]
    fn long_runs_are_linear() {
        let Some(v) = bundled("cl100k_base") else {
            return;
        };
        let bt = fast(&v);
        for unit in [&b"a"[..], b" ", b"\xe3\x80\x80", b"ab", b"\xff"] {
            let piece = unit.repeat(2_000_000 / unit.len());
            check(&v, bt, &piece);
        }
    }

    /// Vocabularies made by merging random pairs of earlier tokens over a small alphabet: the
    /// rank rule then often forms tokens from other splits, leaves some unreachable, or breaks
    /// the heap order (the build must then refuse).
    #[test]
    fn random_small_vocabularies() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let (mut built, mut refused, mut unreachable) = (0, 0, 0);
        for _ in 0..300 {
            let alphabet = &b"abcd"[..2 + rng.below(3)];
            let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
            let mut seen: HashSet<Vec<u8>> = tokens.iter().cloned().collect();
            let base: Vec<usize> = alphabet.iter().map(|&b| b as usize).collect();
            let mut pool = base.clone();
            for _ in 0..rng.below(60) {
                let a = pool[rng.below(pool.len())];
                let b = pool[rng.below(pool.len())];
                let t = [tokens[a].as_slice(), tokens[b].as_slice()].concat();
                if t.len() <= 12 && seen.insert(t.clone()) {
                    pool.push(tokens.len());
                    tokens.push(t);
                }
            }
            // Sometimes swap two ranks, so a token may rank below its parts.
            if rng.below(3) == 0 && tokens.len() > 258 {
                let i = 256 + rng.below(tokens.len() - 256);
                let j = 256 + rng.below(tokens.len() - 256);
                tokens.swap(i, j);
            }
            let v = Vocab::from_pairs(
                tokens
                    .iter()
                    .enumerate()
                    .map(|(r, t)| (t.as_slice(), r as Rank)),
            )
            .unwrap();
            let Some(bt) = v.wait_fast_bpe() else {
                refused += 1;
                continue;
            };
            built += 1;
            unreachable += v.iter().filter(|&(b, r)| reference(&v, b) != [r]).count();
            for (b, r) in v.iter() {
                let mut got = Vec::new();
                assert!(bt.encode(b, &mut got));
                assert_eq!(got, reference(&v, b), "token {r} {b:?}");
            }
            for _ in 0..200 {
                let len = 1 + rng.below(40);
                let piece: Vec<u8> = (0..len)
                    .map(|_| alphabet[rng.below(alphabet.len())])
                    .collect();
                let mut got = Vec::new();
                assert!(bt.encode(&piece, &mut got));
                assert_eq!(
                    got,
                    reference(&v, &piece),
                    "{:?}",
                    String::from_utf8_lossy(&piece)
                );
            }
        }
        assert!(
            built > 100 && refused > 10 && unreachable > 10,
            "{built} {refused} {unreachable}"
        );
    }
}

/// Throughput of the BPE paths on the corpora's pieces, in this thread's CPU time (a development
/// aid: `cargo test --release --lib bench_bpe_paths -- --ignored --nocapture`, optionally with
/// `BENCH_ONLY=o200k_base:zh`). Columns: the whole-piece lookup then the merge algorithm (the
/// path before the backtracking encoder), the same then `encode_piece`, and `encode_pretokenized`.
#[cfg(test)]
#[test]
#[ignore]
fn bench_bpe_paths() {
    use crate::bpe::{encode_by_merging, encode_piece, encode_pretokenized};
    use crate::pretok::{Pretokenizer, CL100K_PATTERN, O200K_PATTERN};
    use crate::vocab::Vocab;
    use std::io::Read;
    use std::time::Instant;
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    let cpu = || {
        let mut ts = Timespec { sec: 0, nsec: 0 };
        // SAFETY: CLOCK_THREAD_CPUTIME_ID (3) with a valid timespec.
        unsafe { clock_gettime(3, &mut ts) };
        ts.sec as f64 + ts.nsec as f64 * 1e-9
    };
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    for (name, pattern) in [
        ("cl100k_base", CL100K_PATTERN),
        ("o200k_base", O200K_PATTERN),
    ] {
        let z = std::fs::read(root.join(format!("python/toklm/data/{name}.ranks.z"))).unwrap();
        let mut blob = Vec::new();
        flate2::read::ZlibDecoder::new(&z[..])
            .read_to_end(&mut blob)
            .unwrap();
        let t0 = Instant::now();
        let v = Vocab::from_compact(&blob).unwrap();
        let t1 = Instant::now();
        let bt = v.wait_fast_bpe().unwrap();
        eprintln!(
            "{name}: vocab {:.1} ms, backtracking tables {:.1} ms later, {:.1} MB",
            (t1 - t0).as_secs_f64() * 1e3,
            t1.elapsed().as_secs_f64() * 1e3,
            bt.heap_size() as f64 / 1e6
        );
        let pretok = Pretokenizer::new(pattern).unwrap();
        for corpus in ["ko", "ja", "zh", "en", "code"] {
            if !only.is_empty() && only != format!("{name}:{corpus}") {
                continue;
            }
            let path = root.join(format!("../shared/corpora/{corpus}.txt"));
            let text = std::fs::read_to_string(path).unwrap();
            let bytes = text.as_bytes();
            let mut pieces = Vec::new();
            pretok
                .for_each_piece(&text, |s, e| pieces.push(&bytes[s..e]))
                .unwrap();
            let time = |f: &dyn Fn(&[u8], &mut Vec<Rank>)| {
                let mut best = f64::MAX;
                let mut out = Vec::new();
                for _ in 0..5 {
                    out.clear();
                    let t = cpu();
                    for p in &pieces {
                        f(p, &mut out);
                    }
                    best = best.min(cpu() - t);
                }
                bytes.len() as f64 / best / 1e6
            };
            let whole_or =
                |p: &[u8], o: &mut Vec<Rank>, bpe: fn(&Vocab, &[u8], &mut Vec<Rank>)| match v
                    .rank(p)
                {
                    Some(r) => o.push(r),
                    None => bpe(&v, p, o),
                };
            let merge = time(&|p, o| whole_or(p, o, encode_by_merging));
            let piece = time(&|p, o| whole_or(p, o, encode_piece));
            let pretokenized = time(&|p, o| encode_pretokenized(&v, p, o));
            eprintln!(
                "  {corpus:<5} merge {merge:6.1}  encode_piece {piece:6.1}  \
                 encode_pretokenized {pretokenized:6.1} MB/s"
            );
        }
    }
}
