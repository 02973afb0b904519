//! The Python bindings: every `#[pyclass]`/`#[pymethods]` of `toklm._core` lives in this module.
//!
//! Policy (which special tokens are allowed, error texts, surrogates) is Python's; these methods
//! only convert arguments, release the GIL around native work and map errors to exceptions.

mod hf;
mod tiktoken;
mod train;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rayon::prelude::*;

pub(crate) fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Run `f` over `items` on the rayon pool, or in this thread when one thread is asked for.
pub(crate) fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync + Send,
) -> Vec<R> {
    if threads <= 1 || items.len() <= 1 {
        items.iter().map(f).collect()
    } else {
        items.par_iter().map(f).collect()
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
