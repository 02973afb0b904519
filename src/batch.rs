//! Many texts to one flat token array plus document offsets, on every core.
//!
//! Returning a list per document caps batch throughput where Python objects are built, and a
//! rayon task per document makes short documents (one line each) pay a per-item cost. Here the
//! documents are grouped into chunks of about [`CHUNK_BYTES`] of text, each chunk is one task that
//! appends its tokens to its own buffer, and the buffers are copied once into the output, each
//! by its own task (a prefix sum of their sizes gives each its place).
//! The result does not depend on the number of threads: chunk boundaries depend only on the text
//! lengths, and chunks are concatenated in order.

use std::mem::MaybeUninit;
use std::ops::Range;

use rayon::prelude::*;

/// Text per task: large enough that scheduling costs nothing next to encoding it, small enough
/// that a batch of a few megabytes keeps every core busy.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Documents per task at most: a batch of very short texts (words, ids) is still cut into
/// enough tasks for every core, each still far longer than it takes to schedule.
pub const CHUNK_DOCS: usize = 4096;

/// The tokens of many documents back to back; document `i` is
/// `tokens[offsets[i] as usize..offsets[i + 1] as usize]`, and `offsets` has one entry more than
/// there are documents (starting at 0).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlatTokens {
    pub tokens: Vec<u32>,
    pub offsets: Vec<i64>,
}

/// An error encoding document `index` of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchError<E> {
    pub index: usize,
    pub error: E,
}

impl<E: std::fmt::Display> std::fmt::Display for BatchError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "texts[{}]: {}", self.index, self.error)
    }
}

impl<E: std::fmt::Debug + std::fmt::Display> std::error::Error for BatchError<E> {}

/// Consecutive ranges of item indices covering `0..lens.len()`, each holding at least one item
/// and, except the last, at least `target` bytes or [`CHUNK_DOCS`] items (an item longer than
/// `target` is a range alone only if it starts one).
pub fn chunk_ranges(lens: &[usize], target: usize) -> Vec<Range<usize>> {
    let mut out = Vec::with_capacity(lens.iter().sum::<usize>() / target.max(1) + 1);
    let mut start = 0;
    let mut bytes = 0;
    for (i, &len) in lens.iter().enumerate() {
        bytes += len;
        if bytes >= target || i + 1 - start >= CHUNK_DOCS {
            out.push(start..i + 1);
            start = i + 1;
            bytes = 0;
        }
    }
    if start < lens.len() {
        out.push(start..lens.len());
    }
    out
}

/// The documents of `text` when each non-empty line is one: the lines without their "\n" (and
/// the "\r" of a "\r\n"; a last line with no newline keeps a final "\r").
pub fn split_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(text.len() / 64 + 1);
    let mut rest = text;
    while let Some(i) = rest.as_bytes().iter().position(|&b| b == b'\n') {
        let line = &rest[..i];
        let line = line.strip_suffix('\r').unwrap_or(line);
        if !line.is_empty() {
            out.push(line);
        }
        rest = &rest[i + 1..];
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// One chunk's tokens and the end of each of its documents within them.
#[derive(Debug)]
struct ChunkOut {
    tokens: Vec<u32>,
    ends: Vec<usize>,
}

fn encode_chunk<T, E>(
    texts: &[T],
    first: usize,
    encode: &(impl Fn(&str, &mut Vec<u32>) -> Result<(), E> + Sync),
) -> Result<ChunkOut, BatchError<E>>
where
    T: AsRef<str>,
{
    let bytes: usize = texts.iter().map(|t| t.as_ref().len()).sum();
    let mut out = ChunkOut {
        tokens: Vec::with_capacity(bytes / 3 + 16),
        ends: Vec::with_capacity(texts.len()),
    };
    for (i, text) in texts.iter().enumerate() {
        encode(text.as_ref(), &mut out.tokens).map_err(|error| BatchError {
            index: first + i,
            error,
        })?;
        out.ends.push(out.tokens.len());
    }
    Ok(out)
}

/// The encoded chunks of a batch, before they are copied into their final place (a vector, or
/// a buffer the caller owns, such as a numpy array's).
#[derive(Debug)]
pub struct Chunked {
    parts: Vec<ChunkOut>,
    n_docs: usize,
    threads: usize,
}

impl Chunked {
    /// Tokens in all documents.
    pub fn n_tokens(&self) -> usize {
        self.parts.iter().map(|p| p.tokens.len()).sum()
    }

    /// Number of documents (the offsets have one entry more).
    pub fn n_docs(&self) -> usize {
        self.n_docs
    }

    /// Write every token as 4 little-endian bytes into `tokens` (`4 * n_tokens()` bytes) and
    /// the `n_docs() + 1` document offsets as 8 little-endian bytes each into `offsets`; both
    /// are fully written, so they may start uninitialized. Each chunk is copied to its place
    /// (found by a prefix sum of the chunk sizes) on its own task, on as many threads as the
    /// chunks were encoded with: the copy is no serial tail after the parallel encoding.
    pub fn write_le(&self, tokens: &mut [MaybeUninit<u8>], offsets: &mut [MaybeUninit<u8>]) {
        assert_eq!(tokens.len(), 4 * self.n_tokens(), "token buffer size");
        assert_eq!(offsets.len(), 8 * (self.n_docs + 1), "offset buffer size");
        let (first, mut offsets) = offsets.split_at_mut(8);
        write_bytes(first, &0i64.to_le_bytes());
        let mut tokens = tokens;
        let mut jobs = Vec::with_capacity(self.parts.len());
        let mut base = 0usize;
        for part in &self.parts {
            let (t, rest_t) = std::mem::take(&mut tokens).split_at_mut(4 * part.tokens.len());
            let (o, rest_o) = std::mem::take(&mut offsets).split_at_mut(8 * part.ends.len());
            (tokens, offsets) = (rest_t, rest_o);
            jobs.push((part, base, t, o));
            base += part.tokens.len();
        }
        let copy = |(part, base, t, o): (
            &ChunkOut,
            usize,
            &mut [MaybeUninit<u8>],
            &mut [MaybeUninit<u8>],
        )| {
            write_u32s_le(t, &part.tokens);
            for (&end, d) in part.ends.iter().zip(o.chunks_exact_mut(8)) {
                write_bytes(d, &((base + end) as i64).to_le_bytes());
            }
        };
        if self.threads <= 1 || jobs.len() <= 1 {
            jobs.into_iter().for_each(copy);
        } else {
            crate::pool::install_on(self.threads, || jobs.into_par_iter().for_each(copy));
        }
    }

    /// Tokens and offsets as vectors.
    pub fn into_flat(self) -> FlatTokens {
        concatenate(&self.parts, self.n_docs)
    }
}

/// `src` as little-endian bytes into `dst` (`4 * src.len()` bytes): one memcpy on a
/// little-endian machine.
fn write_u32s_le(dst: &mut [MaybeUninit<u8>], src: &[u32]) {
    assert_eq!(dst.len(), 4 * src.len(), "token slice size");
    if cfg!(target_endian = "little") {
        // SAFETY: `dst` has room for exactly the bytes of `src` (checked above), the two do not
        // overlap (`dst` is borrowed mutably), and a u32's bytes are its little-endian bytes here.
        unsafe {
            std::ptr::copy_nonoverlapping(
                src.as_ptr().cast::<u8>(),
                dst.as_mut_ptr().cast::<u8>(),
                dst.len(),
            );
        }
    } else {
        for (tok, d) in src.iter().zip(dst.chunks_exact_mut(4)) {
            write_bytes(d, &tok.to_le_bytes());
        }
    }
}

fn write_bytes(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        d.write(s);
    }
}

/// Encode every text with `encode` (which appends the tokens of one text to the vector it is
/// given) into one [`FlatTokens`], on the rayon pool unless `threads <= 1`. On errors, the one of
/// the lowest-indexed failing chunk is returned (its first failing document).
pub fn encode_flat<T, E>(
    texts: &[T],
    threads: usize,
    encode: impl Fn(&str, &mut Vec<u32>) -> Result<(), E> + Sync,
) -> Result<FlatTokens, BatchError<E>>
where
    T: AsRef<str> + Sync,
    E: Send,
{
    encode_chunked(texts, threads, encode).map(Chunked::into_flat)
}

/// As [`encode_flat`], leaving the chunks for the caller to copy where it wants them.
pub fn encode_chunked<T, E>(
    texts: &[T],
    threads: usize,
    encode: impl Fn(&str, &mut Vec<u32>) -> Result<(), E> + Sync,
) -> Result<Chunked, BatchError<E>>
where
    T: AsRef<str> + Sync,
    E: Send,
{
    let lens: Vec<usize> = texts.iter().map(|t| t.as_ref().len()).collect();
    let ranges = chunk_ranges(&lens, CHUNK_BYTES);
    let parts = run_tasks(&ranges, threads, |r| {
        encode_chunk(&texts[r.clone()], r.start, &encode)
    })?;
    Ok(Chunked {
        parts,
        n_docs: texts.len(),
        threads,
    })
}

/// As [`encode_chunked`], for texts that are read a block at a time: `read` hands each block
/// (its items in batch order; cut as [`chunk_ranges`] cuts) to the function it is given, which
/// starts encoding that block on the pool at once. Where reading is serial work of its own
/// (Python strings, read one by one under the GIL), it then overlaps the encoding instead of
/// coming before it. `read` runs on one of the pool's threads (which, once it returns, encodes
/// blocks too: the reader is not a thread more than there are cores), or on this thread with
/// `threads <= 1`, where the blocks are all read first and then encoded here. Every block read
/// comes back, in order, with what `read` returned and the result, so that the caller frees
/// the blocks where it must. On errors, the first failing document's is returned.
pub fn encode_read_blocks<B, T, E, R>(
    threads: usize,
    read: impl FnOnce(&mut dyn FnMut(B)) -> R + Send,
    encode: impl Fn(&str, &mut Vec<u32>) -> Result<(), E> + Sync,
) -> (Vec<B>, R, Result<Chunked, BatchError<E>>)
where
    B: AsRef<[T]> + Send,
    T: AsRef<str>,
    E: Send,
    R: Send,
{
    // (block number, block, its chunk): filled in whatever order the tasks finish.
    let done = std::sync::Mutex::new(Vec::new());
    let mut n_docs = 0;
    let mut n_blocks = 0;
    let mut start = |block: &B| {
        let first = n_docs;
        n_docs += block.as_ref().len();
        n_blocks += 1;
        (n_blocks - 1, first)
    };
    let read_out = if threads <= 1 {
        let mut blocks = Vec::new();
        let out = read(&mut |block| blocks.push(block));
        let mut done = done.lock().expect("no task ran");
        for block in blocks {
            let (i, first) = start(&block);
            let chunk = encode_chunk(block.as_ref(), first, &encode);
            done.push((i, block, chunk));
        }
        out
    } else {
        let (done, encode) = (&done, &encode);
        // Blocks spawned from a pool thread go to its own queue, from which the idle threads
        // are woken to steal; spawned from outside the pool, a burst of them woke one thread.
        crate::pool::install_on(threads, || {
            rayon::scope(|scope| {
                read(&mut |block| {
                    let (i, first) = start(&block);
                    scope.spawn(move |_| {
                        let chunk = encode_chunk(block.as_ref(), first, encode);
                        done.lock()
                            .expect("a task panicked")
                            .push((i, block, chunk));
                    });
                })
            })
        })
    };
    let mut done = done.into_inner().expect("a task panicked");
    done.sort_unstable_by_key(|d| d.0);
    let mut blocks = Vec::with_capacity(done.len());
    let mut parts = Ok(Vec::with_capacity(done.len()));
    for (_, block, chunk) in done {
        blocks.push(block);
        if let Ok(p) = &mut parts {
            match chunk {
                Ok(chunk) => p.push(chunk),
                Err(e) => parts = Err(e),
            }
        }
    }
    let chunked = parts.map(|parts| Chunked {
        parts,
        n_docs,
        threads,
    });
    (blocks, read_out, chunked)
}

/// `task` of every range, in order, on the pool unless `threads <= 1`; the first error (in range
/// order) if any failed.
fn run_tasks<E: Send>(
    ranges: &[Range<usize>],
    threads: usize,
    task: impl Fn(&Range<usize>) -> Result<ChunkOut, E> + Sync + Send,
) -> Result<Vec<ChunkOut>, E> {
    let chunks: Vec<Result<ChunkOut, E>> = if threads <= 1 || ranges.len() <= 1 {
        ranges.iter().map(&task).collect()
    } else {
        crate::pool::install_on(threads, || ranges.par_iter().map(&task).collect())
    };
    chunks.into_iter().collect()
}

/// Where `data` is cut for [`encode_lines_chunked`]: consecutive ranges covering it, each ending
/// just after the first `\n` at or after `target` bytes from its start (the last: at the end).
pub fn line_blocks(data: &[u8], target: usize) -> Vec<Range<usize>> {
    let mut out = Vec::with_capacity(data.len() / target.max(1) + 1);
    let mut start = 0;
    while start < data.len() {
        let from = (start + target.max(1)).min(data.len()) - 1;
        let end = match data[from..].iter().position(|&b| b == b'\n') {
            Some(i) => from + i + 1,
            None => data.len(),
        };
        out.push(start..end);
        start = end;
    }
    out
}

/// An error of [`encode_lines_chunked`], at a byte offset of its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinesError<E> {
    /// The data is not UTF-8 from byte `at` on.
    Utf8 { at: usize },
    /// Encoding the line that starts at byte `at` failed.
    Encode { at: usize, error: E },
}

impl<E: std::fmt::Display> std::fmt::Display for LinesError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Utf8 { at } => write!(f, "invalid UTF-8 at byte {at}"),
            Self::Encode { at, error } => write!(f, "line at byte {at}: {error}"),
        }
    }
}

/// [`encode_chunked`] of the non-empty lines of UTF-8 `data` ([`split_lines`]), where the UTF-8
/// check and the line split are part of each task too: `data` is cut after a newline about
/// every [`CHUNK_BYTES`] ([`line_blocks`]), and each block is checked, split and encoded on its
/// own. No line spans two blocks, so the documents and their tokens are those of
/// `encode_chunked(&split_lines(text))`. On errors, the first in the data is returned.
pub fn encode_lines_chunked<E: Send>(
    data: &[u8],
    threads: usize,
    encode: impl Fn(&str, &mut Vec<u32>) -> Result<(), E> + Sync,
) -> Result<Chunked, LinesError<E>> {
    let blocks = line_blocks(data, CHUNK_BYTES);
    let parts = run_tasks(&blocks, threads, |r| {
        let text = std::str::from_utf8(&data[r.clone()]).map_err(|e| LinesError::Utf8 {
            at: r.start + e.valid_up_to(),
        })?;
        let lines = split_lines(text);
        encode_chunk(&lines, 0, &encode).map_err(|e| LinesError::Encode {
            at: lines[e.index].as_ptr() as usize - data.as_ptr() as usize,
            error: e.error,
        })
    })?;
    let n_docs = parts.iter().map(|p| p.ends.len()).sum();
    Ok(Chunked {
        parts,
        n_docs,
        threads,
    })
}

/// The chunks back to back, with document offsets: the one copy of every token.
fn concatenate(parts: &[ChunkOut], n_docs: usize) -> FlatTokens {
    let total: usize = parts.iter().map(|p| p.tokens.len()).sum();
    let mut tokens = Vec::with_capacity(total);
    let mut offsets = Vec::with_capacity(n_docs + 1);
    offsets.push(0i64);
    for part in parts {
        let base = tokens.len();
        tokens.extend_from_slice(&part.tokens);
        offsets.extend(part.ends.iter().map(|&e| (base + e) as i64));
    }
    FlatTokens { tokens, offsets }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in encoder: one token per byte, an error on "!".
    fn bytes_encoder(text: &str, out: &mut Vec<u32>) -> Result<(), String> {
        if text.contains('!') {
            return Err(format!("bad text {text:?}"));
        }
        out.extend(text.bytes().map(u32::from));
        Ok(())
    }

    #[test]
    fn chunk_ranges_cover_every_item_in_order() {
        let lens = [10, 0, 30, 5, 70, 1, 1];
        let ranges = chunk_ranges(&lens, 40);
        assert_eq!(ranges, vec![0..3, 3..5, 5..7]);
        assert_eq!(chunk_ranges(&[], 40), Vec::<Range<usize>>::new());
        assert_eq!(chunk_ranges(&[0, 0, 0], 40), vec![0..3]);
        assert_eq!(chunk_ranges(&[100, 100], 40), vec![0..1, 1..2]);
    }

    #[test]
    fn flat_tokens_match_per_document_encoding() {
        // Enough text for many chunks, documents of varied length including empty ones.
        let texts: Vec<String> = (0..5000)
            .map(|i| "ab c".repeat(i % 37) + &"x".repeat(i % 5))
            .collect();
        let flat = encode_flat(&texts, 4, bytes_encoder).unwrap();
        assert_eq!(flat.offsets.len(), texts.len() + 1);
        assert_eq!(flat.offsets[0], 0);
        for (i, text) in texts.iter().enumerate() {
            let (a, b) = (flat.offsets[i] as usize, flat.offsets[i + 1] as usize);
            let want: Vec<u32> = text.bytes().map(u32::from).collect();
            assert_eq!(flat.tokens[a..b], want[..], "document {i}");
        }
        assert_eq!(*flat.offsets.last().unwrap() as usize, flat.tokens.len());
        assert_eq!(encode_flat(&texts, 1, bytes_encoder).unwrap(), flat);
    }

    #[test]
    fn little_endian_buffers_match_the_vectors() {
        let texts: Vec<String> = (0..3000).map(|i| "xyz ".repeat(i % 50)).collect();
        for threads in [1, 2, 4] {
            let chunked = encode_chunked(&texts, threads, bytes_encoder).unwrap();
            let (n_t, n_o) = (4 * chunked.n_tokens(), 8 * (chunked.n_docs() + 1));
            let mut tokens = Vec::with_capacity(n_t);
            let mut offsets = Vec::with_capacity(n_o);
            chunked.write_le(
                &mut tokens.spare_capacity_mut()[..n_t],
                &mut offsets.spare_capacity_mut()[..n_o],
            );
            // SAFETY: write_le initialized every byte of both buffers.
            unsafe {
                tokens.set_len(n_t);
                offsets.set_len(n_o);
            }
            let flat = chunked.into_flat();
            let t: Vec<u32> = tokens
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            let o: Vec<i64> = offsets
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                .collect();
            assert_eq!((t, o), (flat.tokens, flat.offsets), "{threads} threads");
        }
    }

    #[test]
    fn lines_are_split_as_documented() {
        let text = "a\r\n\nb c\n\r\n\r\r\nlast\r";
        assert_eq!(split_lines(text), vec!["a", "b c", "\r", "last\r"]);
        assert_eq!(split_lines(""), Vec::<&str>::new());
        assert_eq!(split_lines("\n\n"), Vec::<&str>::new());
        assert_eq!(split_lines("x"), vec!["x"]);
    }

    #[test]
    fn line_blocks_end_after_newlines_and_cover_the_data() {
        assert_eq!(line_blocks(b"", 4), Vec::<Range<usize>>::new());
        assert_eq!(line_blocks(b"ab\ncdefg\nh", 2), vec![0..3, 3..9, 9..10]);
        assert_eq!(line_blocks(b"abc\nd\n", 4), vec![0..4, 4..6]);
        assert_eq!(line_blocks(b"abcdef", 2), vec![0..6]);
    }

    #[test]
    fn lines_in_blocks_match_the_lines_of_the_whole_text() {
        // Lines of many lengths (some longer than a block, some "\r\n", some empty), so that
        // blocks end everywhere.
        let text: String = (0..20_000)
            .map(|i| {
                let line = "w\u{e9}".repeat((i * 7919) % 400) + &"y".repeat(i % 3);
                line + if i % 5 == 0 { "\r\n" } else { "\n" } + if i % 11 == 0 { "\n" } else { "" }
            })
            .collect::<String>()
            + "tail\r";
        let want = encode_flat(&split_lines(&text), 1, bytes_encoder).unwrap();
        for threads in [1, 3] {
            let got = encode_lines_chunked(text.as_bytes(), threads, bytes_encoder).unwrap();
            assert_eq!(got.n_docs(), want.offsets.len() - 1);
            assert_eq!(got.into_flat(), want, "{threads} threads");
        }
    }

    #[test]
    fn lines_errors_name_the_first_bad_byte_or_line() {
        let mut data = "abc\n".repeat(40_000).into_bytes();
        data[100_001] = 0xff;
        data[150_000] = 0xfe;
        let err = encode_lines_chunked(&data, 2, bytes_encoder).unwrap_err();
        assert_eq!(err, LinesError::Utf8 { at: 100_001 });
        assert_eq!(err.to_string(), "invalid UTF-8 at byte 100001");
        let mut text = "abc\n".repeat(40_000);
        text.replace_range(120_000..120_003, "ab!");
        let err = encode_lines_chunked(text.as_bytes(), 2, bytes_encoder).unwrap_err();
        assert_eq!(err.to_string(), "line at byte 120000: bad text \"ab!\"");
    }

    /// `texts` in blocks as `encode_read_blocks` wants them (cut as `chunk_ranges` cuts).
    fn read_blocks(texts: &[String], submit: &mut dyn FnMut(Vec<String>)) -> usize {
        let lens: Vec<usize> = texts.iter().map(String::len).collect();
        let ranges = chunk_ranges(&lens, CHUNK_BYTES);
        for r in &ranges {
            submit(texts[r.clone()].to_vec());
        }
        ranges.len()
    }

    #[test]
    fn blocks_read_while_encoding_match_the_whole_batch() {
        let texts: Vec<String> = (0..20_000)
            .map(|i| "ab c".repeat((i * 31) % 97) + &"\u{e9}".repeat(i % 4))
            .collect();
        let want = encode_flat(&texts, 1, bytes_encoder).unwrap();
        for threads in [1, 2, 4] {
            let (blocks, n, got) =
                encode_read_blocks(threads, |s| read_blocks(&texts, s), bytes_encoder);
            assert!(n > 10, "{n} blocks: too few to test the order");
            assert_eq!(
                blocks.concat(),
                texts,
                "{threads} threads: blocks back in order"
            );
            assert_eq!(got.unwrap().into_flat(), want, "{threads} threads");
        }
        let (blocks, (), got) =
            encode_read_blocks::<Vec<String>, String, String, ()>(2, |_| (), bytes_encoder);
        assert!(blocks.is_empty());
        assert_eq!(got.unwrap().into_flat().offsets, vec![0]);
    }

    #[test]
    fn blocks_read_while_encoding_report_the_first_failing_document() {
        let mut texts: Vec<String> = vec!["y".repeat(1000); 400];
        texts[300] = "oops!".into();
        texts[350] = "again!".into();
        for threads in [1, 4] {
            let (blocks, _, got) =
                encode_read_blocks(threads, |s| read_blocks(&texts, s), bytes_encoder);
            assert_eq!(blocks.concat(), texts);
            assert_eq!(
                got.unwrap_err().to_string(),
                "texts[300]: bad text \"oops!\""
            );
        }
    }

    #[test]
    fn empty_batch_has_one_offset() {
        let flat = encode_flat::<&str, String>(&[], 2, bytes_encoder).unwrap();
        assert_eq!(flat.tokens, Vec::<u32>::new());
        assert_eq!(flat.offsets, vec![0]);
    }

    #[test]
    fn error_names_the_first_failing_document() {
        let mut texts: Vec<String> = vec!["y".repeat(1000); 400];
        texts[300] = "oops!".into();
        texts[350] = "again!".into();
        for threads in [1, 4] {
            let err = encode_flat(&texts, threads, bytes_encoder).unwrap_err();
            assert_eq!(err.index, 300);
            assert_eq!(err.to_string(), "texts[300]: bad text \"oops!\"");
        }
    }
}
