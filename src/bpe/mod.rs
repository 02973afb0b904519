//! Byte-pair encoding of one piece with tiktoken's rank rule.
//!
//! Start from single bytes; repeatedly merge the adjacent pair whose concatenated bytes have the
//! lowest rank in the vocabulary (ties: leftmost) until no adjacent pair is a token.
//!
//! Two algorithms give the same tokens: the merge loop (`merge`, shared with the Hugging Face
//! model) and the linear-time backtracking encoder (`backtrack`), whose tables `PieceEncoder`
//! builds lazily (at once for a small vocabulary, on a background thread for a large one).

pub mod backtrack;
mod backtrack_build;
pub mod merge;
#[cfg(test)]
mod tests;

use std::mem::MaybeUninit;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::vocab::{Rank, Vocab};
use backtrack::Backtrack;
use merge::{merge_heap, merge_scan, HeapScratch, MergeRule, Part};

/// Pieces up to this many bytes take the flat-array merge path.
const SHORT_PIECE: usize = 256;

/// Vocabularies with at most this many token bytes build the backtracking tables at once (about
/// a millisecond); larger ones on a background thread (0.2-0.5 s for cl100k/o200k), started once
/// the merge path has encoded `BUILD_AFTER_BYTES`.
const SYNC_BUILD_BYTES: usize = 1 << 16;
const BUILD_AFTER_BYTES: usize = 1 << 12;

/// A piece at least this long waits for the backtracking tables rather than take the merge
/// loop: the loop costs 400-900 ns a byte on such pieces (a run of one letter, or of spaces),
/// so from about half a megabyte on, building the tables (0.2-0.5 s, once per vocabulary) and
/// encoding in linear time is the cheaper way, and a process's first long piece is no longer
/// many times slower than its next (8 MB of 'a' on cl100k_base: 3.9 s first, 0.05 s after).
const WAIT_FOR_TABLES_BYTES: usize = 1 << 19;

/// tiktoken's rank rule: a pair's rank is the rank of its concatenated bytes, and that rank is
/// also the token it forms.
struct ConcatRank<'a> {
    vocab: &'a Vocab,
    piece: &'a [u8],
}

impl MergeRule for ConcatRank<'_> {
    #[inline(always)]
    fn rank(&self, left: &Part, right: &Part) -> Rank {
        self.vocab
            .rank_or_max(&self.piece[left.start as usize..right.end as usize])
    }

    #[inline(always)]
    fn merged(&self, rank: Rank) -> Rank {
        rank
    }
}

/// A vocabulary with its BPE encoders: the merge loop, and the backtracking encoder once its
/// tables are built.
pub struct PieceEncoder {
    vocab: Vocab,
    /// The backtracking encoder's tables: unset until built, `None` when this vocabulary does
    /// not meet their preconditions (BPE then always takes the merge path).
    fast: Arc<OnceLock<Option<Backtrack>>>,
    /// Bytes BPE-encoded by the merge path while `fast` is unset; the build starts (once) when
    /// this passes `BUILD_AFTER_BYTES`, so short-lived vocabularies never pay for it.
    slow_bytes: AtomicUsize,
    build_started: AtomicBool,
}

impl std::fmt::Debug for PieceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PieceEncoder({:?})", self.vocab)
    }
}

/// Hand the build's freed scratch memory (several MB, in this thread's malloc arena) back to the
/// system, so that it does not stay resident in the process.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's malloc_trim only returns free heap pages to the kernel; it is
        // thread-safe and has no other effect on live allocations.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Short ASCII words are mostly whole tokens, which the cached hash lookup finds fastest, and the
/// merge loop with its dense two-byte table is as quick as the trie on the rest.
#[inline]
fn short_ascii(piece: &[u8]) -> bool {
    piece.len() <= SHORT_PIECE && piece.last().is_some_and(|&b| b < 0x80)
}

impl PieceEncoder {
    /// The encoders of `vocab`; a small vocabulary's backtracking tables are built now.
    pub fn new(vocab: Vocab) -> PieceEncoder {
        let encoder = PieceEncoder {
            vocab,
            fast: Arc::new(OnceLock::new()),
            slow_bytes: AtomicUsize::new(0),
            build_started: AtomicBool::new(false),
        };
        if encoder.vocab.total_token_bytes() <= SYNC_BUILD_BYTES {
            encoder.start_fast_build();
        }
        encoder
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// Count `n` bytes encoded without the backtracking tables; start building them when enough
    /// text has shown they are worth it.
    #[inline]
    fn note_slow_bytes(&self, n: usize) {
        if !self.build_started.load(Ordering::Relaxed)
            && self.slow_bytes.fetch_add(n, Ordering::Relaxed) + n >= BUILD_AFTER_BYTES
        {
            self.start_fast_build();
        }
    }

    /// Build the backtracking tables: now for a small vocabulary, else on a background thread.
    /// Only the first call does anything.
    fn start_fast_build(&self) {
        if self.build_started.swap(true, Ordering::Relaxed) {
            return;
        }
        let build = |v: &Vocab| {
            if v.missing_byte().is_some() {
                return None;
            }
            Backtrack::build(v.n_ranks(), |r| v.token_bytes(r), |b| v.rank_uncached(b))
        };
        if self.vocab.total_token_bytes() <= SYNC_BUILD_BYTES {
            let _ = self.fast.set(build(&self.vocab));
            return;
        }
        let (v, f) = (self.vocab.clone(), Arc::clone(&self.fast));
        let spawned = std::thread::Builder::new()
            .name("toklm-bpe-tables".into())
            .spawn(move || {
                // A panic here (a bug) must still settle `fast`: the merge path then stays.
                let built = std::panic::catch_unwind(AssertUnwindSafe(|| build(&v)));
                let _ = f.set(built.unwrap_or(None));
                release_freed_memory();
            });
        if spawned.is_err() {
            // No thread: keep the merge path (exact, only slower) rather than block the caller.
            let _ = self.fast.set(None);
        }
    }

    /// The backtracking encoder, once its tables are built (`None` before, or for ever when the
    /// vocabulary does not meet its preconditions).
    #[inline]
    fn backtrack(&self) -> Option<&Backtrack> {
        self.fast.get().and_then(Option::as_ref)
    }

    /// Build the backtracking tables if not yet started and wait for them (tests, benchmarks).
    pub fn wait_backtrack(&self) -> Option<&Backtrack> {
        self.start_fast_build();
        self.fast.wait().as_ref()
    }

    /// Append the BPE tokens of `piece` to `out`. Every byte of `piece` must have a token
    /// (checked when the encoder is built), so this cannot fail.
    ///
    /// Uses the backtracking encoder once the vocabulary's tables are ready, the merge algorithm
    /// before and for short ASCII pieces (where it is as fast); both give the same tokens.
    pub fn encode_piece(&self, piece: &[u8], out: &mut Vec<Rank>) {
        match piece.len() {
            0 => {}
            1 => out.push(self.vocab.byte_rank(piece[0])),
            _ if short_ascii(piece) => self.encode_by_merging(piece, out),
            _ => {
                let fast = match self.backtrack() {
                    Some(fast) => Some(fast),
                    None if piece.len() >= WAIT_FOR_TABLES_BYTES => self.wait_backtrack(),
                    None => {
                        self.note_slow_bytes(piece.len());
                        None
                    }
                };
                if let Some(fast) = fast {
                    let base = out.len();
                    if fast.encode(piece, out) {
                        return;
                    }
                    out.truncate(base);
                }
                self.encode_by_merging(piece, out);
            }
        }
    }

    /// tiktoken's treatment of one pre-tokenized piece: a piece that is itself a token is that
    /// token (even a token that BPE would not form: tiktoken treats the vocabulary as a cache),
    /// any other piece is BPE-encoded. With the backtracking tables this costs no separate
    /// whole-piece lookup.
    #[inline]
    pub fn encode_pretokenized(&self, piece: &[u8], out: &mut Vec<Rank>) {
        if let (Some(fast), false) = (self.backtrack(), short_ascii(piece)) {
            let base = out.len();
            if piece.is_empty() || fast.encode_word(piece, out) {
                return;
            }
            out.truncate(base);
        }
        match self.vocab.rank(piece) {
            Some(r) => out.push(r),
            None => self.encode_piece(piece, out),
        }
    }

    /// The BPE tokens of `piece` as a new vector.
    pub fn encode_piece_vec(&self, piece: &[u8]) -> Vec<Rank> {
        let mut out = Vec::new();
        self.encode_piece(piece, &mut out);
        out
    }

    /// `encode_piece` by the merge loop alone (a piece of at least two bytes).
    pub fn encode_by_merging(&self, piece: &[u8], out: &mut Vec<Rank>) {
        let rule = ConcatRank {
            vocab: &self.vocab,
            piece,
        };
        let part = |i: usize, &b: &u8| Part {
            id: self.vocab.byte_rank(b),
            start: i as u32,
            end: i as u32 + 1,
        };
        let n = piece.len();
        if n <= SHORT_PIECE {
            // Stack arrays, of which only the first `n` (`n - 1`) entries are written: zeroing
            // all of them would cost more than merging a typical short piece.
            let mut parts = [const { MaybeUninit::<Part>::uninit() }; SHORT_PIECE];
            let mut ranks = [const { MaybeUninit::<Rank>::uninit() }; SHORT_PIECE];
            for (i, b) in piece.iter().enumerate() {
                parts[i].write(part(i, b));
            }
            for (i, w) in piece.windows(2).enumerate() {
                ranks[i].write(self.vocab.pair_rank(w[0], w[1]));
            }
            // SAFETY: the loops above initialised `parts[..n]` and `ranks[..n - 1]`, and
            // `MaybeUninit<T>` has the layout of `T`.
            let (parts, ranks) = unsafe {
                (
                    &mut *(&mut parts[..n] as *mut [MaybeUninit<Part>] as *mut [Part]),
                    &mut *(&mut ranks[..n - 1] as *mut [MaybeUninit<Rank>] as *mut [Rank]),
                )
            };
            let left = merge_scan(&rule, parts, ranks);
            out.extend(parts[..left].iter().map(|p| p.id));
        } else {
            let mut parts: Vec<Part> = piece.iter().enumerate().map(|(i, b)| part(i, b)).collect();
            merge_heap(&rule, &mut parts, &mut HeapScratch::default());
            out.extend(parts.iter().map(|p| p.id));
        }
    }
}
