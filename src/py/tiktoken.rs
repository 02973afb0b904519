//! `toklm._core.CoreBPE`: the native encoder behind `toklm.Encoding` (tiktoken's semantics).

use std::collections::HashSet;
use std::sync::OnceLock;

use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBytes, PyDict, PyInt, PyList, PyString};

use super::{encode_str_list, flat_arrays, par_map, value_error, FlatArrays};
use crate::batch::encode_lines_chunked;
use crate::tiktoken::{CoreBpe, SpecialSet};
use crate::vocab::{Rank, Vocab};

fn unknown_token(rank: Rank) -> PyErr {
    PyKeyError::new_err(format!("Invalid token for decoding: {rank}"))
}

/// `allowed_all` wins; otherwise the given set (empty: none).
fn special_set(all: bool, tokens: HashSet<String>) -> SpecialSet {
    if all {
        SpecialSet::All
    } else if tokens.is_empty() {
        SpecialSet::None
    } else {
        SpecialSet::Only(tokens)
    }
}

/// Why a text of `encode_batch_flat` stopped the batch.
enum FlatError {
    Disallowed(String),
    Encode(String),
}

/// The native encoder behind `toklm.Encoding`.
#[pyclass(frozen, module = "toklm._core", name = "CoreBPE")]
pub struct PyCoreBpe {
    core: CoreBpe,
    /// Python ints for the ordinary ranks, made on first use and shared by every list returned:
    /// building a list from them is an incref per token instead of an allocation per token.
    ints: OnceLock<Vec<OnceLock<Py<PyInt>>>>,
}

impl PyCoreBpe {
    fn new(core: CoreBpe) -> Self {
        PyCoreBpe {
            core,
            ints: OnceLock::new(),
        }
    }

    /// The bytes of `tokens`, decoded without the GIL.
    fn decode_detached(&self, py: Python<'_>, tokens: &[Rank]) -> PyResult<Vec<u8>> {
        py.detach(|| {
            let mut out = Vec::with_capacity(tokens.len() * 4);
            self.core.decode_into(tokens, &mut out).map(|_| out)
        })
        .map_err(unknown_token)
    }

    /// `tokens` as a Python list of ints.
    fn token_list<'py>(&self, py: Python<'py>, tokens: &[Rank]) -> PyResult<Bound<'py, PyList>> {
        let ints = self.ints.get_or_init(|| {
            (0..self.core.vocab().n_ranks())
                .map(|_| OnceLock::new())
                .collect()
        });
        PyList::new(
            py,
            tokens.iter().map(|&t| match ints.get(t as usize) {
                Some(cell) => cell
                    .get_or_init(|| t.into_pyobject(py).expect("infallible").unbind())
                    .bind(py)
                    .clone(),
                None => t.into_pyobject(py).expect("infallible"),
            }),
        )
    }

    /// Many token sequences as a list of lists.
    fn token_lists<'py>(
        &self,
        py: Python<'py>,
        batch: &[Vec<Rank>],
    ) -> PyResult<Bound<'py, PyList>> {
        let lists = batch
            .iter()
            .map(|tokens| self.token_list(py, tokens))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, lists)
    }
}

#[pymethods]
impl PyCoreBpe {
    /// Build from a `dict[bytes, int]` of mergeable ranks.
    #[staticmethod]
    fn from_ranks(
        py: Python<'_>,
        ranks: &Bound<'_, PyDict>,
        special_tokens: Vec<(String, Rank)>,
        pattern: &str,
    ) -> PyResult<Self> {
        let mut pairs: Vec<(Vec<u8>, Rank)> = Vec::with_capacity(ranks.len());
        for (k, v) in ranks.iter() {
            let bytes = k.cast::<PyBytes>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "mergeable_ranks keys must be bytes, got {}",
                    k.get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ))
            })?;
            let rank: Rank = v.extract().map_err(|_| {
                PyValueError::new_err(format!(
                    "mergeable_ranks[{:?}] must be an int in 0..2**32-1, got {v}",
                    bytes.as_bytes()
                ))
            })?;
            pairs.push((bytes.as_bytes().to_vec(), rank));
        }
        py.detach(|| {
            let vocab = Vocab::from_pairs(pairs.iter().map(|(b, r)| (b.as_slice(), *r)))
                .map_err(|e| format!("invalid mergeable_ranks: {}", e.message))?;
            CoreBpe::new(vocab, special_tokens, pattern).map_err(|e| e.to_string())
        })
        .map(PyCoreBpe::new)
        .map_err(PyValueError::new_err)
    }

    /// Build from the compact blob format (see `Vocab::from_compact`).
    #[staticmethod]
    fn from_compact(
        py: Python<'_>,
        blob: &[u8],
        special_tokens: Vec<(String, Rank)>,
        pattern: &str,
    ) -> PyResult<Self> {
        py.detach(|| {
            let vocab = Vocab::from_compact(blob).map_err(|e| e.to_string())?;
            CoreBpe::new(vocab, special_tokens, pattern).map_err(|e| e.to_string())
        })
        .map(PyCoreBpe::new)
        .map_err(PyValueError::new_err)
    }

    /// Number of ordinary tokens and one past the largest ordinary rank.
    fn vocab_sizes(&self) -> (usize, usize) {
        (self.core.vocab().len(), self.core.vocab().n_ranks())
    }

    fn encode_ordinary<'py>(&self, py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyList>> {
        let tokens = py
            .detach(|| self.core.encode_ordinary(text))
            .map_err(value_error)?;
        self.token_list(py, &tokens)
    }

    fn count_ordinary(&self, py: Python<'_>, text: &str) -> PyResult<usize> {
        py.detach(|| self.core.count_ordinary(text))
            .map_err(value_error)
    }

    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        allowed_all: bool,
        allowed: HashSet<String>,
    ) -> PyResult<Bound<'py, PyList>> {
        let allowed = special_set(allowed_all, allowed);
        let (tokens, _) = py
            .detach(|| self.core.encode(text, &allowed))
            .map_err(value_error)?;
        self.token_list(py, &tokens)
    }

    /// Tokens as little-endian u32 bytes (for `numpy.frombuffer`, no list built).
    fn encode_to_bytes<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        allowed_all: bool,
        allowed: HashSet<String>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let allowed = special_set(allowed_all, allowed);
        let bytes = py
            .detach(|| {
                let (tokens, _) = self.core.encode(text, &allowed)?;
                Ok::<_, String>(
                    tokens
                        .iter()
                        .flat_map(|t| t.to_le_bytes())
                        .collect::<Vec<u8>>(),
                )
            })
            .map_err(value_error)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The leftmost special token of the given set found in `text`, or None.
    fn find_special(
        &self,
        py: Python<'_>,
        text: &str,
        all: bool,
        tokens: HashSet<String>,
    ) -> Option<String> {
        let set = special_set(all, tokens);
        py.detach(|| self.core.find_special(text, &set))
    }

    fn encode_ordinary_batch<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<PyBackedStr>,
        num_threads: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let results = py.detach(|| {
            par_map(&texts, num_threads, |t| self.core.encode_ordinary(t))
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
        });
        let results = results.map_err(value_error)?;
        self.token_lists(py, &results)
    }

    fn count_ordinary_batch(
        &self,
        py: Python<'_>,
        texts: Vec<PyBackedStr>,
        num_threads: usize,
    ) -> PyResult<Vec<usize>> {
        py.detach(|| {
            par_map(&texts, num_threads, |t| self.core.count_ordinary(t))
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(value_error)
    }

    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<PyBackedStr>,
        allowed_all: bool,
        allowed: HashSet<String>,
        num_threads: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let allowed = special_set(allowed_all, allowed);
        let results = py.detach(|| {
            par_map(&texts, num_threads, |t| {
                self.core.encode(t, &allowed).map(|(v, _)| v)
            })
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
        });
        self.token_lists(py, &results.map_err(value_error)?)
    }

    /// `encode_batch_flat` (specials as plain text) of the non-empty lines of UTF-8 `data` (see
    /// `batch::split_lines`): no Python string per line. ValueError on invalid UTF-8.
    fn encode_lines_flat<'py>(
        &self,
        py: Python<'py>,
        data: &[u8],
        num_threads: usize,
    ) -> PyResult<FlatArrays<'py>> {
        let chunked = py
            .detach(|| {
                encode_lines_chunked(data, num_threads, |t, out| {
                    self.core.encode_ordinary_into(t, out).map(|_| ())
                })
            })
            .map_err(value_error)?;
        flat_arrays(py, chunked)
    }

    /// Many texts to one flat token array and document offsets (see `FlatArrays`), in chunks of
    /// about 64 KB of text per task on `num_threads` threads; special-token text is plain text
    /// unless allowed. Each task first looks for the `disallowed` special tokens in its texts
    /// (in parallel, where a call per text from Python was the serial part of the batch): if
    /// any text holds one, the leftmost one of the first such text is returned (a `str`)
    /// instead of the arrays, and the caller raises tiktoken's error for it.
    fn encode_batch_flat<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyList>,
        allowed_all: bool,
        allowed: HashSet<String>,
        disallowed: HashSet<String>,
        num_threads: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let allowed = special_set(allowed_all, allowed);
        let disallowed = special_set(false, disallowed);
        let chunked = encode_str_list(py, texts, num_threads, |t, out| {
            if let Some(token) = self.core.find_special(t, &disallowed) {
                return Err(FlatError::Disallowed(token));
            }
            match &allowed {
                SpecialSet::None => self.core.encode_ordinary_into(t, out).map(|_| ()),
                _ => self
                    .core
                    .encode(t, &allowed)
                    .map(|(tokens, _)| out.extend(tokens)),
            }
            .map_err(FlatError::Encode)
        })?;
        match chunked {
            Ok(chunked) => Ok(flat_arrays(py, chunked)?.into_pyobject(py)?.into_any()),
            Err(e) => match e.error {
                FlatError::Disallowed(token) => Ok(PyString::new(py, &token).into_any()),
                FlatError::Encode(message) => {
                    Err(value_error(format!("texts[{}]: {message}", e.index)))
                }
            },
        }
    }

    fn encode_with_unstable<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        allowed_all: bool,
        allowed: HashSet<String>,
    ) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
        let allowed = special_set(allowed_all, allowed);
        let (tokens, completions) = py
            .detach(|| self.core.encode_with_unstable(text, &allowed))
            .map_err(value_error)?;
        let mut completions: Vec<Vec<Rank>> = completions.into_iter().collect();
        completions.sort();
        Ok((self.token_list(py, &tokens)?, PyList::new(py, completions)?))
    }

    fn encode_bytes<'py>(&self, py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyList>> {
        let tokens = py
            .detach(|| self.core.encode_bytes(bytes))
            .map_err(value_error)?;
        self.token_list(py, &tokens)
    }

    /// BPE of `bytes` as a single piece (tiktoken's `_encode_single_piece`).
    fn byte_pair_encode<'py>(&self, py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyList>> {
        let tokens = py.detach(|| self.core.byte_pair_encode(bytes));
        self.token_list(py, &tokens)
    }

    /// The rank of exactly these bytes among ordinary tokens.
    fn encode_single_token(&self, bytes: &[u8]) -> Option<Rank> {
        self.core.vocab().rank(bytes)
    }

    fn decode_bytes<'py>(
        &self,
        py: Python<'py>,
        tokens: Vec<Rank>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = self.decode_detached(py, &tokens)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The text of `tokens` if their bytes are valid UTF-8, else None (Python then decodes
    /// the bytes with the caller's error handler); one copy fewer than bytes + decode.
    fn decode_str<'py>(
        &self,
        py: Python<'py>,
        tokens: Vec<Rank>,
    ) -> PyResult<Option<Bound<'py, PyString>>> {
        let bytes = self.decode_detached(py, &tokens)?;
        Ok(std::str::from_utf8(&bytes)
            .ok()
            .map(|s| PyString::new(py, s)))
    }

    fn decode_bytes_batch<'py>(
        &self,
        py: Python<'py>,
        batch: Vec<Vec<Rank>>,
        num_threads: usize,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let decoded = py.detach(|| {
            par_map(&batch, num_threads, |tokens| {
                let mut out = Vec::with_capacity(tokens.len() * 4);
                self.core.decode_into(tokens, &mut out).map(|_| out)
            })
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
        });
        Ok(decoded
            .map_err(unknown_token)?
            .iter()
            .map(|b| PyBytes::new(py, b))
            .collect())
    }

    fn decode_single_token_bytes<'py>(
        &self,
        py: Python<'py>,
        token: Rank,
    ) -> PyResult<Bound<'py, PyBytes>> {
        match self.core.token_bytes(token) {
            Some(b) => Ok(PyBytes::new(py, b)),
            None => Err(PyKeyError::new_err(token.to_string())),
        }
    }

    fn decode_tokens_bytes<'py>(
        &self,
        py: Python<'py>,
        tokens: Vec<Rank>,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        tokens
            .iter()
            .map(|&t| match self.core.token_bytes(t) {
                Some(b) => Ok(PyBytes::new(py, b)),
                None => Err(unknown_token(t)),
            })
            .collect()
    }

    fn token_byte_values<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        let values = py.detach(|| self.core.token_byte_values());
        values.into_iter().map(|b| PyBytes::new(py, b)).collect()
    }
}
