//! Counting the distinct pre-tokenized pieces of a corpus.
//!
//! Texts are split by the encoding's `Pretokenizer` on every core (rayon); each thread counts
//! into its own map keyed by slices of the text (no allocation for a piece seen before), and
//! the maps are added into the shards of one table of owned pieces, a shard per task. Counts are
//! sums, so the result does not depend on the thread count or on how the work was divided.
//!
//! Files are streamed: read in blocks, cut at a *safe boundary* (just after a `\n` that is
//! followed by an ASCII letter), and the tail after the last safe boundary is carried into the
//! next block. For the OpenAI patterns (r50k/gpt2, cl100k, o200k) such a position is a piece
//! boundary whatever the surrounding text (no piece starting with a letter may take a preceding
//! `\n`, and no piece containing `\n` continues with a letter), and the patterns have no
//! look-behind, so a streamed file gets exactly the pieces of the whole file split at once (the
//! tests check this). A block with no safe boundary grows up to `MAX_BLOCK`, then is cut after
//! its last `\n` (or at its last character boundary): only then may a piece differ from a
//! whole-file split.

use std::fs::File;
use std::hash::Hasher;
use std::io::Read;
use std::path::Path;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHasher};

use super::TrainError;
use crate::pretok::Pretokenizer;

/// Bytes read per block (split into sub-chunks for the threads).
pub const BLOCK: usize = 16 << 20;
/// A block without a safe boundary grows to at most this many bytes before it is cut anyway.
pub const MAX_BLOCK: usize = 256 << 20;
/// Target size of one thread's sub-chunk.
const SUB_CHUNK: usize = 1 << 20;

/// What to do with bytes that are not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Utf8Policy {
    /// Fail, naming the source and the byte offset.
    Strict,
    /// Replace each bad sequence with U+FFFD.
    Replace,
}

/// Distinct pieces and how often each occurred.
///
/// The pieces are spread over `SHARDS` maps by a hash of their bytes, so that the threads' counts
/// are added in parallel, one shard per task (a single map made that step serial, and it
/// dominated the counting phase).
#[derive(Debug, Clone)]
pub struct PieceCounts {
    shards: Vec<FxHashMap<Box<[u8]>, u64>>,
    /// Bytes of text counted so far.
    pub bytes: u64,
}

type LocalCounts<'a> = FxHashMap<&'a [u8], u64>;
/// One thread's counts sorted by shard: `part[shard]` holds that shard's entries.
type ShardedPart<'a> = Vec<Vec<(&'a [u8], u64)>>;

/// Number of maps a `PieceCounts` is spread over.
const SHARDS: usize = 64;

/// The shard of a piece: the top bits of its hash, remixed so that a shard's keys do not share
/// the bits its own hash table indexes by.
#[inline]
fn shard_of(piece: &[u8]) -> usize {
    let mut h = FxHasher::default();
    h.write(piece);
    (h.finish().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize
}

/// Add `count` occurrences of `piece` to one shard.
#[inline]
fn add_to(shard: &mut FxHashMap<Box<[u8]>, u64>, piece: &[u8], count: u64) {
    match shard.get_mut(piece) {
        Some(c) => *c += count,
        None => {
            shard.insert(piece.into(), count);
        }
    }
}

impl Default for PieceCounts {
    fn default() -> Self {
        Self {
            shards: vec![FxHashMap::default(); SHARDS],
            bytes: 0,
        }
    }
}

impl PieceCounts {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of distinct pieces.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|m| m.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|m| m.is_empty())
    }

    /// The count of one piece (0 if never seen).
    pub fn get(&self, piece: &[u8]) -> u64 {
        self.shards[shard_of(piece)]
            .get(piece)
            .copied()
            .unwrap_or(0)
    }

    /// Add `count` occurrences of `piece`.
    pub fn add(&mut self, piece: &[u8], count: u64) {
        add_to(&mut self.shards[shard_of(piece)], piece, count);
    }

    /// Every distinct piece with its count, sorted by piece bytes (a canonical order).
    pub fn sorted(&self) -> Vec<(&[u8], u64)> {
        let mut v: Vec<(&[u8], u64)> = self
            .shards
            .iter()
            .flat_map(|m| m.iter().map(|(k, &c)| (&k[..], c)))
            .collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// Add every piece of `other`.
    pub fn merge(&mut self, other: &PieceCounts) {
        for (mine, theirs) in self.shards.iter_mut().zip(&other.shards) {
            for (k, &c) in theirs {
                add_to(mine, k, c);
            }
        }
        self.bytes += other.bytes;
    }

    /// Count the pieces of each text (each text is split on its own), on all cores.
    pub fn add_texts<S: AsRef<str> + Sync>(
        &mut self,
        pretok: &Pretokenizer,
        texts: &[S],
    ) -> Result<(), TrainError> {
        let spans: Vec<(&str, usize)> = texts
            .iter()
            .map(|t| (t.as_ref(), t.as_ref().len()))
            .collect();
        self.add_spans(pretok, &spans)?;
        self.bytes += texts.iter().map(|t| t.as_ref().len() as u64).sum::<u64>();
        Ok(())
    }

    /// Count, for each `(text, limit)`, the pieces of `text` that start before `limit`.
    fn add_spans(
        &mut self,
        pretok: &Pretokenizer,
        spans: &[(&str, usize)],
    ) -> Result<(), TrainError> {
        crate::pool::install(|| {
            // Each thread counts into maps of its own, keyed by slices of the text...
            let locals = spans
                .par_iter()
                .try_fold(LocalCounts::default, |mut m, &(t, limit)| {
                    count_into(pretok, t, limit, &mut m).map(|_| m)
                })
                .collect::<Result<Vec<_>, _>>()?;
            // ...whose entries are sorted into shards...
            let parts: Vec<ShardedPart> = locals
                .into_par_iter()
                .map(|m| {
                    let mut part = vec![Vec::new(); SHARDS];
                    for (k, c) in m {
                        part[shard_of(k)].push((k, c));
                    }
                    part
                })
                .collect();
            // ...and each shard adds its entries from every thread, all shards in parallel.
            self.shards
                .par_iter_mut()
                .enumerate()
                .for_each(|(i, shard)| {
                    for part in &parts {
                        for &(k, c) in &part[i] {
                            add_to(shard, k, c);
                        }
                    }
                });
            Ok(())
        })
    }

    /// Stream a file through `add_texts`, in blocks cut at safe boundaries (see the module
    /// docs). `progress(bytes_read)` is called after each block; returning false stops with
    /// `TrainError::Interrupted`.
    pub fn add_file(
        &mut self,
        pretok: &Pretokenizer,
        path: &Path,
        policy: Utf8Policy,
        progress: &mut dyn FnMut(u64) -> bool,
    ) -> Result<(), TrainError> {
        let name = path.display().to_string();
        let io_err = |e: std::io::Error| TrainError::Io {
            path: name.clone(),
            message: e.to_string(),
        };
        let mut file = File::open(path).map_err(io_err)?;
        self.add_reader(pretok, &mut file, &name, policy, BLOCK, progress)
    }

    /// Stream any reader (named `source` in errors) in blocks of about `block` bytes.
    pub fn add_reader(
        &mut self,
        pretok: &Pretokenizer,
        reader: &mut dyn Read,
        source: &str,
        policy: Utf8Policy,
        block: usize,
        progress: &mut dyn FnMut(u64) -> bool,
    ) -> Result<(), TrainError> {
        let mut buf: Vec<u8> = Vec::with_capacity(block + 4096);
        let mut read_buf = vec![0u8; block.clamp(1, 1 << 20)];
        // File offset of buf[0].
        let mut offset = 0u64;
        let mut eof = false;
        while !eof {
            let want = buf.len() + block.max(1);
            while buf.len() < want {
                let n = reader.read(&mut read_buf).map_err(|e| TrainError::Io {
                    path: source.to_string(),
                    message: e.to_string(),
                })?;
                if n == 0 {
                    eof = true;
                    break;
                }
                buf.extend_from_slice(&read_buf[..n]);
            }
            let cut = if eof {
                buf.len()
            } else {
                match last_safe_boundary(&buf, 0) {
                    Some(c) => c,
                    None if buf.len() < MAX_BLOCK => continue,
                    None => forced_cut(&buf),
                }
            };
            self.add_block(pretok, &buf, cut, source, offset, policy)?;
            offset += cut as u64;
            buf.drain(..cut);
            if !progress(offset) {
                return Err(TrainError::Interrupted);
            }
        }
        Ok(())
    }

    /// Count `block[..cut]`, which starts at a safe boundary and ends at one or at the end of
    /// the input, split into sub-chunks for the threads.
    fn add_block(
        &mut self,
        pretok: &Pretokenizer,
        block: &[u8],
        cut: usize,
        source: &str,
        offset: u64,
        policy: Utf8Policy,
    ) -> Result<(), TrainError> {
        // Each sub-chunk is split together with the letter that follows it (so that a trailing
        // whitespace run sees what comes next, as in the whole text); pieces from there on are
        // left to the next sub-chunk.
        let mut texts: Vec<(std::borrow::Cow<str>, usize)> = Vec::new();
        for (start, end) in sub_chunks(&block[..cut]) {
            let stop = if end < block.len() { end + 1 } else { end };
            let bytes = &block[start..stop];
            match std::str::from_utf8(bytes) {
                Ok(s) => texts.push((s.into(), end - start)),
                Err(e) if policy == Utf8Policy::Strict => {
                    return Err(TrainError::Utf8 {
                        source: source.to_string(),
                        offset: offset + (start + e.valid_up_to()) as u64,
                    })
                }
                Err(_) => {
                    let head = String::from_utf8_lossy(&block[start..end]).into_owned();
                    let limit = head.len();
                    texts.push((
                        (head + &String::from_utf8_lossy(&block[end..stop])).into(),
                        limit,
                    ));
                }
            }
        }
        let spans: Vec<(&str, usize)> = texts.iter().map(|(t, l)| (t.as_ref(), *l)).collect();
        self.add_spans(pretok, &spans)?;
        self.bytes += cut as u64;
        Ok(())
    }
}

/// Count the pieces of `text` that start before `limit` into `m`.
fn count_into<'a>(
    pretok: &Pretokenizer,
    text: &'a str,
    limit: usize,
    m: &mut LocalCounts<'a>,
) -> Result<(), TrainError> {
    let bytes = text.as_bytes();
    pretok
        .for_each_piece(text, |s, e| {
            if s < limit {
                *m.entry(&bytes[s..e]).or_insert(0) += 1
            }
        })
        .map_err(TrainError::Pattern)
}

/// Whether a block may be cut at `i`: just after a `\n`, before an ASCII letter.
#[inline]
fn is_safe_boundary(buf: &[u8], i: usize) -> bool {
    i > 0 && i < buf.len() && buf[i - 1] == b'\n' && buf[i].is_ascii_alphabetic()
}

/// The last safe boundary in `buf` after `from`.
fn last_safe_boundary(buf: &[u8], from: usize) -> Option<usize> {
    (from.max(1)..buf.len())
        .rev()
        .find(|&i| is_safe_boundary(buf, i))
}

/// The first safe boundary at or after `from`.
fn next_safe_boundary(buf: &[u8], from: usize) -> Option<usize> {
    (from.max(1)..buf.len()).find(|&i| is_safe_boundary(buf, i))
}

/// Where to cut a block that has no safe boundary: after its last `\n`, else at its last
/// character boundary (never inside a UTF-8 sequence).
fn forced_cut(buf: &[u8]) -> usize {
    if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
        if i > 0 {
            return i + 1;
        }
    }
    let mut i = buf.len() - 1;
    while i > 0 && (buf[i] & 0xC0) == 0x80 {
        i -= 1;
    }
    if i == 0 {
        buf.len()
    } else {
        i
    }
}

/// Split a block into sub-chunks of about `SUB_CHUNK` bytes at safe boundaries.
fn sub_chunks(block: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < block.len() {
        let end = if block.len() - start <= SUB_CHUNK {
            block.len()
        } else {
            next_safe_boundary(block, start + SUB_CHUNK).unwrap_or(block.len())
        };
        out.push((start, end));
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretok::{CL100K_PATTERN, O200K_PATTERN, R50K_PATTERN};

    /// A text with every kind of whitespace and newline run around the cut points.
    fn tricky_text(n: usize) -> String {
        let parts = [
            "Hello",
            " world",
            "\n",
            "  \n",
            "\n\n",
            "\r\n",
            " \t",
            "it's",
            "'re",
            "123456",
            "안녕하세요",
            " 세계",
            "!!",
            "...\n",
            "/\n",
            "X",
            "ab",
            " ",
            "\u{a0}",
            "Üben",
            "𝓗i",
            "\n ",
            "\t\n",
        ];
        let mut x = 0x1234_5678u64;
        let mut s = String::new();
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.push_str(parts[(x % parts.len() as u64) as usize]);
        }
        s
    }

    #[test]
    fn train_count_streamed_equals_whole_text() {
        let text = tricky_text(20_000);
        for pattern in [R50K_PATTERN, CL100K_PATTERN, O200K_PATTERN] {
            let pretok = Pretokenizer::new(pattern).unwrap();
            let mut whole = PieceCounts::new();
            whole.add_texts(&pretok, &[text.as_str()]).unwrap();
            for block in [7, 64, 1000] {
                let mut streamed = PieceCounts::new();
                let mut reader = text.as_bytes();
                let mut calls = 0;
                streamed
                    .add_reader(
                        &pretok,
                        &mut reader,
                        "t",
                        Utf8Policy::Strict,
                        block,
                        &mut |_| {
                            calls += 1;
                            true
                        },
                    )
                    .unwrap();
                assert!(calls > 1);
                let (w, s) = (whole.sorted(), streamed.sorted());
                let diff: Vec<_> = w.iter().zip(&s).filter(|(a, b)| a != b).take(3).collect();
                assert!(
                    w == s,
                    "block {block}: {} vs {} pieces, {diff:?}",
                    w.len(),
                    s.len()
                );
                assert_eq!(streamed.bytes, text.len() as u64);
            }
        }
    }

    #[test]
    fn train_count_same_for_any_thread_count() {
        let text = tricky_text(50_000);
        let pretok = Pretokenizer::new(O200K_PATTERN).unwrap();
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut c = PieceCounts::new();
                c.add_texts(&pretok, &lines).unwrap();
                c.sorted()
                    .into_iter()
                    .map(|(k, v)| (k.to_vec(), v))
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(run(1), run(3));
    }

    #[test]
    fn train_count_reports_bad_utf8_offset() {
        let pretok = Pretokenizer::new(O200K_PATTERN).unwrap();
        let mut data = b"hello\nworld\nab".to_vec();
        data.extend_from_slice(b"\xff tail\n");
        let mut c = PieceCounts::new();
        let err = c
            .add_reader(
                &pretok,
                &mut &data[..],
                "f.txt",
                Utf8Policy::Strict,
                4,
                &mut |_| true,
            )
            .unwrap_err();
        assert_eq!(
            err,
            TrainError::Utf8 {
                source: "f.txt".into(),
                offset: 14
            }
        );
        let mut c = PieceCounts::new();
        c.add_reader(
            &pretok,
            &mut &data[..],
            "f.txt",
            Utf8Policy::Replace,
            4,
            &mut |_| true,
        )
        .unwrap();
        assert_eq!(c.get("\u{fffd}".as_bytes()), 1);
    }
}
