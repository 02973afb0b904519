//! Python bindings of the BPE trainer (`crate::train`): `toklm._core.BpeTrainer`.
//!
//! The trainer counts pieces as texts and files are added (GIL released), then learns merges
//! from scratch (`train`) or on top of a base vocabulary (`extend`). Policy (argument checks,
//! building the `Encoding`, saving) is Python's, in `toklm.train`.

use std::path::Path;
use std::sync::RwLock;

use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBytes, PyDict};

use crate::pretok::Pretokenizer;
use crate::train::balance::train_balanced;
use crate::train::extend::{extend_vocab, ExtendOptions};
use crate::train::merge::{train_from_bytes, TrainOptions, Trained};
use crate::train::script::{script_names, ScriptSet};
use crate::train::{PieceCounts, TrainError, Utf8Policy};
use crate::vocab::{Rank, Vocab};

fn train_error(e: TrainError) -> PyErr {
    match e {
        TrainError::Io { .. } => PyOSError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// Counts the pieces of a corpus, then learns merges from them.
#[pyclass(frozen, module = "toklm._core", name = "BpeTrainer")]
pub struct PyBpeTrainer {
    pretok: Pretokenizer,
    counts: RwLock<PieceCounts>,
}

impl PyBpeTrainer {
    fn counts(&self) -> std::sync::RwLockReadGuard<'_, PieceCounts> {
        self.counts.read().unwrap_or_else(|e| e.into_inner())
    }

    fn counts_mut(&self) -> std::sync::RwLockWriteGuard<'_, PieceCounts> {
        self.counts.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The new tokens of a training result, in id order.
fn new_tokens(py: Python<'_>, trained: &Trained) -> Vec<Py<PyBytes>> {
    trained
        .merges
        .iter()
        .filter(|m| m.added)
        .map(|m| PyBytes::new(py, &trained.tokens[m.token as usize]).unbind())
        .collect()
}

#[pymethods]
impl PyBpeTrainer {
    #[new]
    fn new(pattern: &str) -> PyResult<Self> {
        let pretok = Pretokenizer::new(pattern)
            .map_err(|e| PyValueError::new_err(format!("bad pattern: {e}")))?;
        Ok(PyBpeTrainer {
            pretok,
            counts: RwLock::new(PieceCounts::new()),
        })
    }

    /// Count the pieces of each text (each split on its own).
    fn add_texts(&self, py: Python<'_>, texts: Vec<PyBackedStr>) -> PyResult<()> {
        let strs: Vec<&str> = texts.iter().map(|s| &**s).collect();
        py.detach(|| self.counts_mut().add_texts(&self.pretok, &strs))
            .map_err(train_error)
    }

    /// Stream a file; `progress(bytes_read)` is called after each block.
    #[pyo3(signature = (path, replace_errors = false, progress = None))]
    fn add_file(
        &self,
        py: Python<'_>,
        path: &str,
        replace_errors: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        let policy = if replace_errors {
            Utf8Policy::Replace
        } else {
            Utf8Policy::Strict
        };
        let result = py.detach(|| {
            let mut report = |n: u64| call_progress(&progress, n);
            self.counts_mut()
                .add_file(&self.pretok, Path::new(path), policy, &mut report)
        });
        raised_by_progress(py)?;
        result.map_err(train_error)
    }

    /// Number of distinct pieces counted.
    fn n_pieces(&self) -> usize {
        self.counts().len()
    }

    /// Bytes of text counted.
    fn n_bytes(&self) -> u64 {
        self.counts().bytes
    }

    /// Learn up to `n_merges` tokens from the 256 bytes; returns the new tokens (ranks 256, ...).
    /// `progress(tokens_added)` is called every thousand tokens.
    #[pyo3(signature = (n_merges, min_frequency, progress = None))]
    fn train(
        &self,
        py: Python<'_>,
        n_merges: usize,
        min_frequency: u64,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Vec<Py<PyBytes>>> {
        let counts = self.counts();
        let opts = TrainOptions {
            n_merges,
            min_frequency,
        };
        let result = py.detach(|| {
            let mut report = |n: usize| call_progress(&progress, n as u64);
            train_from_bytes(&counts, &opts, &mut report)
        });
        raised_by_progress(py)?;
        Ok(new_tokens(py, &result.map_err(train_error)?))
    }

    /// Learn up to `n_new` tokens on top of a base vocabulary (its compact blob or its
    /// `dict[bytes, int]`); returns the new tokens (ids `first_id`, ...).
    #[pyo3(signature = (base, first_id, n_new, min_frequency, scripts = None, progress = None))]
    #[allow(clippy::too_many_arguments)]
    fn extend(
        &self,
        py: Python<'_>,
        base: &Bound<'_, PyAny>,
        first_id: u64,
        n_new: usize,
        min_frequency: u64,
        scripts: Option<Vec<String>>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Vec<Py<PyBytes>>> {
        let vocab = base_vocab(base)?;
        let scripts = scripts
            .map(|s| ScriptSet::new(&s))
            .transpose()
            .map_err(PyValueError::new_err)?;
        let first_id: Rank = first_id.try_into().map_err(|_| {
            PyValueError::new_err(format!("first id {first_id} overflows the id space"))
        })?;
        let opts = ExtendOptions {
            n_new,
            min_frequency,
            first_id,
            scripts,
        };
        let counts = self.counts();
        let result = py.detach(|| {
            let mut report = |n: usize| call_progress(&progress, n as u64);
            extend_vocab(&vocab, &counts, &opts, &mut report)
        });
        raised_by_progress(py)?;
        Ok(new_tokens(py, &result.map_err(train_error)?))
    }

    /// Parity-aware training: one trainer per language for training and one for its parallel
    /// development text; each merge goes to the language whose premium (development tokens /
    /// the reference language's) is worst. Returns the new tokens and the final premiums.
    #[staticmethod]
    fn train_balanced(
        py: Python<'_>,
        train: Vec<Py<PyBpeTrainer>>,
        dev: Vec<Py<PyBpeTrainer>>,
        reference: usize,
        n_merges: usize,
        min_frequency: u64,
    ) -> PyResult<(Vec<Py<PyBytes>>, Vec<f64>)> {
        let opts = TrainOptions {
            n_merges,
            min_frequency,
        };
        let result = py
            .detach(|| {
                let tg: Vec<_> = train.iter().map(|t| t.get().counts()).collect();
                let dg: Vec<_> = dev.iter().map(|t| t.get().counts()).collect();
                let tr: Vec<&PieceCounts> = tg.iter().map(|g| &**g).collect();
                let dr: Vec<&PieceCounts> = dg.iter().map(|g| &**g).collect();
                train_balanced(&tr, &dr, reference, &opts)
            })
            .map_err(train_error)?;
        Ok((new_tokens(py, &result.trained), result.premiums))
    }

    /// The script names `extend` accepts.
    #[staticmethod]
    fn script_names() -> Vec<&'static str> {
        script_names()
    }
}

/// From native code running without the GIL: call a Python `progress(n)` and check for
/// signals (Ctrl-C). An exception either raises is kept for `raised_by_progress`, and false
/// tells the trainer to stop.
fn call_progress(callback: &Option<Py<PyAny>>, n: u64) -> bool {
    Python::attach(|py| {
        let result = match callback {
            Some(cb) => cb.call1(py, (n,)).map(|_| ()),
            None => Ok(()),
        }
        .and_then(|_| py.check_signals());
        match result {
            Ok(()) => true,
            Err(e) => {
                e.restore(py);
                false
            }
        }
    })
}

/// The exception a progress callback raised, if any.
fn raised_by_progress(py: Python<'_>) -> PyResult<()> {
    match PyErr::take(py) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A base vocabulary from a compact blob (`bytes`) or a `dict[bytes, int]`.
fn base_vocab(base: &Bound<'_, PyAny>) -> PyResult<Vocab> {
    if let Ok(blob) = base.cast::<PyBytes>() {
        return Vocab::from_compact(blob.as_bytes())
            .map_err(|e| PyValueError::new_err(e.to_string()));
    }
    let dict = base
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("base must be a compact blob or a dict[bytes, int]"))?;
    let mut pairs: Vec<(Vec<u8>, Rank)> = Vec::with_capacity(dict.len());
    for (k, v) in dict.iter() {
        let bytes = k
            .cast::<PyBytes>()
            .map_err(|_| PyTypeError::new_err("base ranks: keys must be bytes"))?;
        pairs.push((bytes.as_bytes().to_vec(), v.extract()?));
    }
    Vocab::from_pairs(pairs.iter().map(|(b, r)| (b.as_slice(), *r)))
        .map_err(|e| PyValueError::new_err(format!("invalid base ranks: {}", e.message)))
}

/// Add the trainer's classes to `toklm._core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBpeTrainer>()
}
