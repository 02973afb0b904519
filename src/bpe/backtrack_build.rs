//! Building the backtracking encoder's tables from a vocabulary: the trie (with its leaf and
//! whole-character flags), the split of every reachable token, the pair table and its filter,
//! and the entry tables for the first two or three bytes of a piece.

use std::sync::atomic::AtomicU32;

use super::backtrack::{
    char_key, filter_bit, keeps_boundary, mix, payload3, Backtrack, PairTable, CHARSTEP, EMITTABLE,
    ID_BITS, ID_MASK, LEAF, MAX_NODES, MEMO_SLOTS, NONE, RANK_BITS, RANK_MASK,
};
use crate::vocab::Rank;

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

impl PairTable {
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
}
