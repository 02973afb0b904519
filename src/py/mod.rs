//! The Python bindings: every `#[pyclass]`/`#[pymethods]` of `toklm._core` lives in this module.
//!
//! Policy (which special tokens are allowed, error texts, surrogates) is Python's; these methods
//! only convert arguments, release the GIL around native work and map errors to exceptions.

mod hf;
mod str_list;
mod tiktoken;
mod train;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyByteArray;
use rayon::prelude::*;

use crate::batch::Chunked;
pub(crate) use str_list::encode_str_list;

pub(crate) fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Run `f` over `items` on this process's pool (`crate::pool`: made again after fork), or in
/// this thread when one thread is asked for.
pub(crate) fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync + Send,
) -> Vec<R> {
    if threads <= 1 || items.len() <= 1 {
        items.iter().map(f).collect()
    } else {
        crate::pool::install_on(threads, || items.par_iter().map(f).collect())
    }
}

/// Flat batch output: tokens as little-endian u32 and document offsets as little-endian i64, in
/// bytearrays that `numpy.frombuffer` wraps without a copy (the chunks are copied once, here).
pub(crate) type FlatArrays<'py> = (Bound<'py, PyByteArray>, Bound<'py, PyByteArray>);

pub(crate) fn flat_arrays(py: Python<'_>, chunked: Chunked) -> PyResult<FlatArrays<'_>> {
    let (tokens, t_ptr) = uninit_bytearray(py, 4 * chunked.n_tokens())?;
    let (offsets, o_ptr) = uninit_bytearray(py, 8 * (chunked.n_docs() + 1))?;
    py.detach(move || {
        // SAFETY: both buffers were just made with these lengths and no Python code holds
        // them yet, so nothing else reads, writes or resizes them until we return.
        let (t, o) = unsafe { (t_ptr.slice(), o_ptr.slice()) };
        chunked.write_le(t, o);
        drop(chunked); // the chunk buffers are freed without the GIL too
    });
    Ok((tokens, offsets))
}

/// The buffer of a fresh bytearray, to be written without the GIL.
struct RawBuf(*mut std::mem::MaybeUninit<u8>, usize);

// SAFETY: the buffer belongs to a bytearray no other code can reach while it is written.
unsafe impl Send for RawBuf {}

impl RawBuf {
    /// SAFETY: the caller must be the only user of the buffer while the slice lives.
    unsafe fn slice<'a>(&self) -> &'a mut [std::mem::MaybeUninit<u8>] {
        if self.1 == 0 {
            return &mut [];
        }
        std::slice::from_raw_parts_mut(self.0, self.1)
    }
}

/// A bytearray of `len` bytes left uninitialized (no zeroing pass), and its buffer.
fn uninit_bytearray(py: Python<'_>, len: usize) -> PyResult<(Bound<'_, PyByteArray>, RawBuf)> {
    let n = isize::try_from(len).map_err(|_| value_error("batch output too large"))?;
    // SAFETY: a null source asks CPython for an uninitialized buffer of `n` bytes; the owned
    // reference it returns (or null with an exception set) is taken over by `Bound`.
    unsafe {
        let obj = pyo3::ffi::PyByteArray_FromStringAndSize(std::ptr::null(), n);
        let array = Bound::from_owned_ptr_or_err(py, obj)?.cast_into_unchecked::<PyByteArray>();
        let ptr = pyo3::ffi::PyByteArray_AsString(array.as_ptr()).cast();
        Ok((array, RawBuf(ptr, len)))
    }
}

#[pymodule(gil_used = false)]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<tiktoken::PyCoreBpe>()?;
    m.add_class::<hf::PyHfBpe>()?;
    train::register(m)?;
    Ok(())
}
