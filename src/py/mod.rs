//! The Python bindings: every `#[pyclass]`/`#[pymethods]` of `toklm._core` lives in this module.
//!
//! Policy (which special tokens are allowed, error texts, surrogates) is Python's; these methods
//! only convert arguments, release the GIL around native work and map errors to exceptions.

mod hf;
mod tiktoken;
mod train;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyByteArray;
use rayon::prelude::*;

use crate::batch::Chunked;

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
        crate::pool::install(|| items.par_iter().map(f).collect())
    }
}

/// Flat batch output: tokens as little-endian u32 and document offsets as little-endian i64, in
/// bytearrays that `numpy.frombuffer` wraps without a copy (the chunks are copied once, here).
pub(crate) type FlatArrays<'py> = (Bound<'py, PyByteArray>, Bound<'py, PyByteArray>);

pub(crate) fn flat_arrays<'py>(py: Python<'py>, chunked: &Chunked) -> PyResult<FlatArrays<'py>> {
    let tokens = PyByteArray::new_with(py, 4 * chunked.n_tokens(), |buf| {
        chunked.write_tokens_le(buf);
        Ok(())
    })?;
    let offsets = PyByteArray::new_with(py, 8 * (chunked.n_docs() + 1), |buf| {
        chunked.write_offsets_le(buf);
        Ok(())
    })?;
    Ok((tokens, offsets))
}

#[pymodule(gil_used = false)]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<tiktoken::PyCoreBpe>()?;
    m.add_class::<hf::PyHfBpe>()?;
    train::register(m)?;
    Ok(())
}
