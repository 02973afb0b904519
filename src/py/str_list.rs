//! Encoding the strings of a Python list on the pool, read while they are encoded.
//!
//! Reading a `str` from Python (type check, its UTF-8 view) is serial work under the GIL: about
//! 30 ns an item, a few percent of encoding a one-line document. Read before encoding, with a
//! reference taken and later released per item, it was the serial part that kept two threads
//! of `encode_batch_to_numpy` below 1.9x one on one-line documents. Here the list is copied once
//! into a tuple (C's loop: the tuple holds every item, so nothing the caller's threads do to the
//! list can free a string being encoded), and one of the pool's threads takes the GIL and reads
//! the items a block at a time, each block encoded by the other threads as soon as it is read
//! (`batch::encode_read_blocks`).

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use crate::batch::{encode_read_blocks, BatchError, Chunked, CHUNK_BYTES, CHUNK_DOCS};

/// The UTF-8 of a `str` item of a tuple that the reader keeps alive: the string's own cached
/// UTF-8 buffer, which lives as long as the string does and never changes.
#[derive(Clone, Copy)]
struct Utf8View(*const u8, usize);

// SAFETY: the bytes are immutable and outlive every use: each view is made from an item of the
// tuple that `encode_str_list` holds until all blocks are encoded and handed back.
unsafe impl Send for Utf8View {}
unsafe impl Sync for Utf8View {}

impl AsRef<str> for Utf8View {
    fn as_ref(&self) -> &str {
        // SAFETY: made from a valid `&str` whose buffer is still alive (see above).
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.0, self.1)) }
    }
}

/// [`crate::batch::encode_chunked`] of the strings of a Python list, read while they are encoded
/// (see the module's note). The outer `Err` is an item that is not a `str` (TypeError naming its
/// index) or holds a lone surrogate (UnicodeEncodeError); the inner one, encoding's first error.
pub(crate) fn encode_str_list<E: Send>(
    py: Python<'_>,
    texts: &Bound<'_, PyList>,
    threads: usize,
    encode: impl Fn(&str, &mut Vec<u32>) -> Result<(), E> + Sync,
) -> PyResult<Result<Chunked, BatchError<E>>> {
    let items = texts.to_tuple().unbind();
    let encode = &encode;
    let (blocks, read, chunked) = py.detach(|| {
        encode_read_blocks(
            threads,
            |submit| Python::attach(|py| read_blocks(items.bind(py), submit)),
            encode,
        )
    });
    // Every block is encoded (or dropped) and back: only now may the tuple, and with it the
    // strings the views point into, go.
    drop(blocks);
    drop(items);
    read.map(|()| chunked)
}

/// The items of `items` as UTF-8 views, handed to `submit` in blocks of at least `CHUNK_BYTES`
/// or `CHUNK_DOCS` items (the last: the rest), as `batch::chunk_ranges` cuts.
fn read_blocks(items: &Bound<'_, PyTuple>, submit: &mut dyn FnMut(Vec<Utf8View>)) -> PyResult<()> {
    let mut block = Vec::new();
    let mut bytes = 0;
    for (i, item) in items.iter_borrowed().enumerate() {
        let text = item.cast::<PyString>().map_err(|_| {
            let type_name = item.get_type().name().map(|n| n.to_string());
            PyTypeError::new_err(format!(
                "texts[{i}]: expected str, got {}",
                type_name.unwrap_or_default()
            ))
        })?;
        let text = text.to_str()?;
        bytes += text.len();
        block.push(Utf8View(text.as_ptr(), text.len()));
        if bytes >= CHUNK_BYTES || block.len() >= CHUNK_DOCS {
            submit(std::mem::take(&mut block));
            bytes = 0;
        }
    }
    if !block.is_empty() {
        submit(block);
    }
    Ok(())
}
