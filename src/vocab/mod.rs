//! The vocabulary: token bytes <-> rank, stored compactly.
//!
//! All token bytes live in one arena indexed by rank, and a flat open-addressing table maps
//! bytes to rank. Compared with a `HashMap<Vec<u8>, u32>` this needs no allocation per token,
//! builds in a few milliseconds and uses less memory (about 20 MB for o200k_base).

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// A token's rank: its id and its merge priority (lower merges first).
pub type Rank = u32;

/// Bytes `Vocab::token_chunk` reads at once.
pub const CHUNK: usize = 16;

/// Marks "no such token" in dense tables.
pub const NO_RANK: Rank = Rank::MAX;

/// Why a vocabulary could not be built. `index` is the 0-based entry (rank order for the compact
/// format, input order otherwise) so callers can name the offending line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VocabError {
    pub index: usize,
    pub message: String,
}

impl fmt::Display for VocabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry {}: {}", self.index, self.message)
    }
}

impl std::error::Error for VocabError {}

/// Ids past the number of tokens that a vocabulary may use (holes), beyond twice that number.
pub const ID_SLACK: u64 = 1 << 16;

/// One more than the largest rank or id a vocabulary of `n_tokens` tokens may use.
///
/// Tables are indexed by rank (a slot per rank up to the largest), so one huge rank would
/// allocate by its size, not by the number of tokens (a rank of 2**32 - 2 meant 17-69 GB). Every
/// vocabulary is checked against this one limit: memory then follows the number of tokens, and
/// real vocabularies (a few holes, added tokens after the model's) are far inside it.
/// `toklm.load.rank_limit` applies the same rule while reading a file, to name the line.
pub fn id_limit(n_tokens: usize) -> u64 {
    2 * n_tokens as u64 + ID_SLACK
}

/// The error for `what` (e.g. `rank 9999999 of token "qq"`), an id at or past
/// `id_limit(n_tokens)`.
pub fn id_beyond_limit(what: &str, n_tokens: usize) -> String {
    format!(
        "{what} is beyond what a vocabulary of {n_tokens} tokens can hold (ids are stored \
         densely: they must be below {})",
        id_limit(n_tokens)
    )
}

/// One slot of the lookup table. Tokens of up to 16 bytes are stored inline (`key`, zero-padded)
/// so that a lookup costs one cache miss; longer ones are compared against the arena.
/// `rank_plus_one == 0` marks an empty slot.
#[derive(Clone, Copy, Default)]
#[repr(C, align(32))]
struct Slot {
    key: [u64; 2],
    len: u32,
    rank_plus_one: u32,
    hash: u32,
}

/// Up to 8 bytes as a little-endian word, zero-padded, without a variable-length copy.
#[inline(always)]
fn load_padded(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 8 {
        u64::from_le_bytes(b[..8].try_into().unwrap())
    } else if n >= 4 {
        // Two overlapping 4-byte loads; the overlap holds the same bytes at the same shifts.
        let lo = u32::from_le_bytes(b[..4].try_into().unwrap()) as u64;
        let hi = u32::from_le_bytes(b[n - 4..].try_into().unwrap()) as u64;
        lo | hi << ((n - 4) * 8)
    } else if n > 0 {
        b[0] as u64 | (b[n / 2] as u64) << (n / 2 * 8) | (b[n - 1] as u64) << ((n - 1) * 8)
    } else {
        0
    }
}

/// `bytes` (at most 16 of them) zero-padded into two words.
#[inline(always)]
fn inline_key(bytes: &[u8]) -> [u64; 2] {
    if bytes.len() <= 8 {
        [load_padded(bytes), 0]
    } else {
        let n = bytes.len().min(16);
        [load_padded(&bytes[..8]), load_padded(&bytes[8..n])]
    }
}

/// The table's hash: from the inline key for tokens of up to 16 bytes, else over all bytes.
#[inline(always)]
fn hash_token(bytes: &[u8], key: &[u64; 2]) -> u64 {
    if bytes.len() > 16 {
        return hash_bytes(bytes);
    }
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let h = (key[0] ^ (bytes.len() as u64) << 59).wrapping_mul(K);
    let h = (h.rotate_left(31) ^ key[1]).wrapping_mul(K);
    h ^ (h >> 29)
}

impl Slot {
    #[inline]
    fn matches(
        &self,
        bytes: &[u8],
        key: &[u64; 2],
        tag: u32,
        arena_token: impl Fn(Rank) -> bool,
    ) -> bool {
        self.len as usize == bytes.len()
            && self.key == *key
            && (bytes.len() <= 16 || (self.hash == tag && arena_token(self.rank_plus_one - 1)))
    }
}

/// Entries of the per-thread lookup cache (a power of two; 16384 x 32 bytes fits in L2).
const CACHE_SLOTS: usize = 16384;

/// A recent lookup: `vocab` is the owning vocabulary's id (0 = empty slot).
#[derive(Clone, Copy, Default)]
#[repr(C, align(32))]
struct CachedLookup {
    key: [u64; 2],
    len: u32,
    rank: Rank,
    vocab: u32,
}

thread_local! {
    /// Direct-mapped cache of recent short lookups, shared by all vocabularies on this thread.
    /// BPE asks for the same few thousand byte strings again and again (the common character
    /// pairs of a language), while the main table is several MB: the cache turns most lookups
    /// from a last-level-cache miss into an L2 hit.
    static LOOKUP_CACHE: RefCell<Vec<CachedLookup>> = RefCell::new(vec![CachedLookup::default(); CACHE_SLOTS]);
}

/// Gives every vocabulary its own id for the lookup cache.
static NEXT_VOCAB_ID: AtomicU32 = AtomicU32::new(1);

/// An immutable byte-level vocabulary.
///
/// The lookup tables sit behind an `Arc`, so a clone is cheap and shares them: a background
/// thread can derive other tables from a vocabulary already in use (see `crate::bpe`).
#[derive(Clone)]
pub struct Vocab {
    inner: Arc<Tables>,
}

struct Tables {
    /// Token bytes of every rank, concatenated in rank order.
    arena: Vec<u8>,
    /// `offsets[r]..offsets[r + 1]` is rank `r`'s slice of `arena`; an empty slice is a hole.
    offsets: Vec<u32>,
    table: Vec<Slot>,
    mask: usize,
    /// Rank of every single byte, or `NO_RANK`.
    byte_ranks: [Rank; 256],
    /// Rank of every two-byte token, indexed by `b0 << 8 | b1` (the first BPE round reads it).
    pair_ranks: Vec<Rank>,
    len: usize,
    /// This vocabulary's tag in the per-thread lookup cache.
    id: u32,
}

/// A table of `capacity` empty slots. On Linux the allocation is first marked for transparent
/// huge pages: o200k_base's table is 16 MB, and faulting it in 4 KB pages was nearly a third of
/// the time an encoding takes to load.
fn zeroed_table(capacity: usize) -> Vec<Slot> {
    let mut table: Vec<Slot> = Vec::with_capacity(capacity);
    #[cfg(target_os = "linux")]
    {
        extern "C" {
            fn madvise(addr: *mut std::ffi::c_void, len: usize, advice: i32) -> i32;
        }
        const MADV_HUGEPAGE: i32 = 14;
        const PAGE: usize = 4096;
        const HUGE_PAGE: usize = 2 << 20;
        let start = table.as_mut_ptr() as usize;
        let end = start + capacity * std::mem::size_of::<Slot>();
        let aligned = start.next_multiple_of(PAGE);
        if end >= aligned + HUGE_PAGE {
            // SAFETY: the range lies inside this Vec's own allocation, which is not yet
            // initialised; MADV_HUGEPAGE only changes how the kernel backs the pages (a failure,
            // e.g. without THP support, leaves them as they were and is ignored).
            unsafe {
                madvise(
                    aligned as *mut std::ffi::c_void,
                    end - aligned,
                    MADV_HUGEPAGE,
                );
            }
        }
    }
    table.resize(capacity, Slot::default());
    table
}

/// A fast hash for short byte strings: 8 bytes at a time, folded with a multiply.
#[inline]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().unwrap());
        h = (h ^ w).wrapping_mul(K).rotate_left(29);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(buf))
            .wrapping_mul(K)
            .rotate_left(29);
    }
    // Final avalanche so both the low (index) and high (tag) bits depend on every byte.
    h ^= h >> 32;
    h = h.wrapping_mul(K);
    h ^ (h >> 29)
}

impl fmt::Debug for Vocab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vocab({} tokens)", self.inner.len)
    }
}

impl Vocab {
    /// Build from `(token bytes, rank)` pairs in any order. Ranks may have holes; tokens and
    /// ranks must be unique and tokens non-empty.
    pub fn from_pairs<'a, I>(pairs: I) -> Result<Vocab, VocabError>
    where
        I: IntoIterator<Item = (&'a [u8], Rank)>,
    {
        let mut items: Vec<(&[u8], Rank, usize)> = pairs
            .into_iter()
            .enumerate()
            .map(|(i, (b, r))| (b, r, i))
            .collect();
        for &(bytes, rank, index) in &items {
            if bytes.is_empty() {
                return Err(VocabError {
                    index,
                    message: format!("token with rank {rank} is empty"),
                });
            }
            if rank == NO_RANK {
                return Err(VocabError {
                    index,
                    message: format!("rank {rank} is too large"),
                });
            }
        }
        items.sort_unstable_by_key(|&(_, r, _)| r);
        for w in items.windows(2) {
            if w[0].1 == w[1].1 {
                return Err(VocabError {
                    index: w[1].2,
                    message: format!("rank {} is given to two tokens", w[1].1),
                });
            }
        }
        if let Some(&(bytes, rank, index)) = items.last() {
            if u64::from(rank) >= id_limit(items.len()) {
                return Err(VocabError {
                    index,
                    message: id_beyond_limit(
                        &format!("rank {rank} of token {:?}", String::from_utf8_lossy(bytes)),
                        items.len(),
                    ),
                });
            }
        }
        let n_ranks = items.last().map_or(0, |&(_, r, _)| r as usize + 1);
        let mut arena = Vec::with_capacity(items.iter().map(|(b, _, _)| b.len()).sum());
        let mut offsets = Vec::with_capacity(n_ranks + 1);
        let mut next = items.iter().peekable();
        for rank in 0..n_ranks as Rank {
            offsets.push(arena.len() as u32);
            if let Some(&&(bytes, r, _)) = next.peek() {
                if r == rank {
                    arena.extend_from_slice(bytes);
                    next.next();
                }
            }
        }
        offsets.push(arena.len() as u32);
        Vocab::from_arena(arena, offsets, |rank| items_index(&items, rank))
    }

    /// Build from the compact blob shipped with the package: for rank 0, 1, 2, ... one length
    /// byte `L` then `L` token bytes; `L == 0` marks an unused rank.
    pub fn from_compact(blob: &[u8]) -> Result<Vocab, VocabError> {
        let mut arena = Vec::with_capacity(blob.len());
        let mut offsets = Vec::new();
        let mut pos = 0;
        while pos < blob.len() {
            let len = blob[pos] as usize;
            let rank = offsets.len();
            let end = pos + 1 + len;
            if end > blob.len() {
                return Err(VocabError {
                    index: rank,
                    message: format!("compact vocabulary is truncated in rank {rank}"),
                });
            }
            offsets.push(arena.len() as u32);
            arena.extend_from_slice(&blob[pos + 1..end]);
            pos = end;
        }
        offsets.push(arena.len() as u32);
        Vocab::from_arena(arena, offsets, |rank| rank as usize)
    }

    /// Index the arena; `entry_of(rank)` names the input entry of a rank for error messages.
    fn from_arena(
        mut arena: Vec<u8>,
        offsets: Vec<u32>,
        entry_of: impl Fn(Rank) -> usize,
    ) -> Result<Vocab, VocabError> {
        // Padding after the last token, so `token_chunk16` can always read 16 bytes.
        arena.extend_from_slice(&[0u8; CHUNK]);
        let n_ranks = offsets.len() - 1;
        let capacity = (n_ranks * 2).next_power_of_two().max(16);
        let mask = capacity - 1;
        let mut table = zeroed_table(capacity);
        let mut byte_ranks = [NO_RANK; 256];
        let mut pair_ranks = vec![NO_RANK; 1 << 16];
        let mut len = 0;
        let token =
            |r: Rank| &arena[offsets[r as usize] as usize..offsets[r as usize + 1] as usize];
        for rank in 0..n_ranks as Rank {
            let bytes = token(rank);
            if bytes.is_empty() {
                continue;
            }
            let key = inline_key(bytes);
            let h = hash_token(bytes, &key);
            let tag = (h >> 32) as u32;
            let mut i = h as usize & mask;
            loop {
                let slot = table[i];
                if slot.rank_plus_one == 0 {
                    table[i] = Slot {
                        key,
                        len: bytes.len() as u32,
                        rank_plus_one: rank + 1,
                        hash: tag,
                    };
                    break;
                }
                if slot.matches(bytes, &key, tag, |r| token(r) == bytes) {
                    return Err(VocabError {
                        index: entry_of(rank),
                        message: format!(
                            "token {:?} has two ranks ({} and {rank})",
                            String::from_utf8_lossy(bytes),
                            slot.rank_plus_one - 1
                        ),
                    });
                }
                i = (i + 1) & mask;
            }
            match *bytes {
                [b] => byte_ranks[b as usize] = rank,
                [b0, b1] => pair_ranks[(b0 as usize) << 8 | b1 as usize] = rank,
                _ => {}
            }
            len += 1;
        }
        let inner = Arc::new(Tables {
            arena,
            offsets,
            table,
            mask,
            byte_ranks,
            pair_ranks,
            len,
            id: NEXT_VOCAB_ID.fetch_add(1, Ordering::Relaxed),
        });
        Ok(Vocab { inner })
    }

    /// Number of tokens (holes not counted).
    pub fn len(&self) -> usize {
        self.inner.len
    }

    pub fn is_empty(&self) -> bool {
        self.inner.len == 0
    }

    /// One past the largest rank.
    pub fn n_ranks(&self) -> usize {
        self.inner.n_ranks()
    }

    /// Bytes of all tokens together (a measure of the vocabulary's size).
    pub fn total_token_bytes(&self) -> usize {
        self.inner.arena.len() - CHUNK
    }

    /// The bytes of `rank`; empty for a hole or a rank out of range.
    #[inline]
    pub fn token_bytes(&self, rank: Rank) -> &[u8] {
        self.inner.token_bytes(rank)
    }

    /// The `CHUNK` bytes starting at `rank`'s token, and the token's length (0 for a hole or a
    /// rank out of range). Decoding copies the fixed-size chunk and keeps `len` bytes of it,
    /// which compiles to two moves instead of a `memcpy` call per token.
    #[inline]
    pub fn token_chunk(&self, rank: Rank) -> (&[u8; CHUNK], usize) {
        let t = &self.inner;
        let r = rank as usize;
        if r + 1 >= t.offsets.len() {
            return (&[0; CHUNK], 0);
        }
        let (start, end) = (t.offsets[r] as usize, t.offsets[r + 1] as usize);
        let chunk = t.arena[start..start + CHUNK]
            .try_into()
            .expect("arena is padded");
        (chunk, end - start)
    }

    /// Whether `rank` names a token.
    #[inline]
    pub fn contains_rank(&self, rank: Rank) -> bool {
        !self.inner.token_bytes(rank).is_empty()
    }

    /// The rank of exactly these bytes.
    #[inline]
    pub fn rank(&self, bytes: &[u8]) -> Option<Rank> {
        self.inner.rank(bytes)
    }

    /// Like `rank`, with `NO_RANK` for "absent" (the BPE loops compare ranks directly).
    #[inline]
    pub fn rank_or_max(&self, bytes: &[u8]) -> Rank {
        self.inner.rank(bytes).unwrap_or(NO_RANK)
    }

    /// `rank` without the per-thread cache (a table builder's lookups would only evict the
    /// encoder's entries).
    pub fn rank_uncached(&self, bytes: &[u8]) -> Option<Rank> {
        self.inner.rank_uncached(bytes)
    }

    /// Rank of a single byte, or `NO_RANK`.
    #[inline]
    pub fn byte_rank(&self, b: u8) -> Rank {
        self.inner.byte_ranks[b as usize]
    }

    /// Rank of a two-byte token, or `NO_RANK`.
    #[inline]
    pub fn pair_rank(&self, b0: u8, b1: u8) -> Rank {
        self.inner.pair_ranks[(b0 as usize) << 8 | b1 as usize]
    }

    /// Every byte value has a token: required for byte-level BPE to encode arbitrary bytes.
    pub fn missing_byte(&self) -> Option<u8> {
        self.inner.missing_byte()
    }

    /// Bytes of all tokens with their ranks, in rank order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Rank)> + '_ {
        (0..self.n_ranks() as Rank)
            .map(|r| (self.token_bytes(r), r))
            .filter(|(b, _)| !b.is_empty())
    }

    /// The compact blob `from_compact` reads.
    pub fn to_compact(&self) -> Result<Vec<u8>, VocabError> {
        let mut out = Vec::with_capacity(self.inner.arena.len() + self.n_ranks());
        for r in 0..self.n_ranks() as Rank {
            let b = self.token_bytes(r);
            if b.len() > 255 {
                return Err(VocabError {
                    index: r as usize,
                    message: format!("token of rank {r} is longer than 255 bytes"),
                });
            }
            out.push(b.len() as u8);
            out.extend_from_slice(b);
        }
        Ok(out)
    }
}

impl Tables {
    fn n_ranks(&self) -> usize {
        self.offsets.len() - 1
    }

    #[inline]
    fn token_bytes(&self, rank: Rank) -> &[u8] {
        let r = rank as usize;
        if r + 1 >= self.offsets.len() {
            return &[];
        }
        &self.arena[self.offsets[r] as usize..self.offsets[r + 1] as usize]
    }

    fn missing_byte(&self) -> Option<u8> {
        (0..=255u8).find(|&b| self.byte_ranks[b as usize] == NO_RANK)
    }

    /// The rank of exactly these bytes.
    #[inline]
    fn rank(&self, bytes: &[u8]) -> Option<Rank> {
        match bytes.len() {
            0 => return None,
            1 => return Some(self.byte_ranks[bytes[0] as usize]).filter(|&r| r != NO_RANK),
            2 => {
                let r = self.pair_ranks[(bytes[0] as usize) << 8 | bytes[1] as usize];
                return Some(r).filter(|&r| r != NO_RANK);
            }
            _ => {}
        }
        let key = inline_key(bytes);
        let h = hash_token(bytes, &key);
        if bytes.len() > 16 {
            return self.probe(bytes, h, &key);
        }
        let c = (h >> 40) as usize & (CACHE_SLOTS - 1);
        LOOKUP_CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            let e = &mut cache[c];
            if e.vocab == self.id && e.len as usize == bytes.len() && e.key == key {
                return Some(e.rank).filter(|&r| r != NO_RANK);
            }
            let found = self.probe(bytes, h, &key);
            *e = CachedLookup {
                key,
                len: bytes.len() as u32,
                rank: found.unwrap_or(NO_RANK),
                vocab: self.id,
            };
            found
        })
    }

    /// Look `bytes` up in the main table.
    #[inline]
    fn probe(&self, bytes: &[u8], h: u64, key: &[u64; 2]) -> Option<Rank> {
        let tag = (h >> 32) as u32;
        let mut i = h as usize & self.mask;
        loop {
            let slot = &self.table[i];
            if slot.rank_plus_one == 0 {
                return None;
            }
            if slot.matches(bytes, key, tag, |r| self.token_bytes(r) == bytes) {
                return Some(slot.rank_plus_one - 1);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// `rank` without the per-thread cache (the table builder's lookups would only evict the
    /// encoder's entries).
    fn rank_uncached(&self, bytes: &[u8]) -> Option<Rank> {
        match bytes.len() {
            0..=2 => self.rank(bytes),
            _ => {
                let key = inline_key(bytes);
                self.probe(bytes, hash_token(bytes, &key), &key)
            }
        }
    }
}

/// The input position of `rank` among `(bytes, rank, input_index)` items sorted by rank.
fn items_index(items: &[(&[u8], Rank, usize)], rank: Rank) -> usize {
    items
        .binary_search_by_key(&rank, |&(_, r, _)| r)
        .map_or(0, |i| items[i].2)
}

#[cfg(test)]
mod tests;
