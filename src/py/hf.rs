//! `toklm._core.HfBpe`: the native half of `toklm.hf.Tokenizer`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use rayon::prelude::*;

use super::{encode_str_list, flat_arrays, value_error, FlatArrays};
use crate::hf::{
    byte_to_char_offsets, parse_merge, parse_merges_txt, AddedMatcher, AddedToken, Alphabet,
    BpeOptions, Encoded, HfBpe, HfPipeline, MergeList, PreStep, Scratch, TokenTable, WordScratch,
};

/// The native half of `toklm.hf.Tokenizer`: added tokens, pre-tokenizers and the BPE model of a
/// `tokenizer.json` (normalization, post-processing and the API live in Python).
#[pyclass(frozen, module = "toklm._core", name = "HfBpe")]
pub struct PyHfBpe {
    pipeline: HfPipeline,
    table: TokenTable,
}

/// Token ids with their (start, end) character offsets.
type IdsOffsets = (Vec<u32>, Vec<(u32, u32)>);

/// `{token: id}`; entries whose id is not an int are skipped, as `tokenizers` reads vocab.json.
fn hf_vocab(vocab: &Bound<'_, PyDict>) -> PyResult<Vec<(String, u32)>> {
    let mut out = Vec::with_capacity(vocab.len());
    for (k, v) in vocab.iter() {
        let token: String = k
            .extract()
            .map_err(|_| PyTypeError::new_err(format!("vocab keys must be str, got {k}")))?;
        if v.is_instance_of::<pyo3::types::PyBool>() || !v.is_instance_of::<pyo3::types::PyInt>() {
            if v.is_instance_of::<pyo3::types::PyFloat>() {
                return Err(value_error(format!(
                    "vocab[{token:?}] = {v} is not an integer id"
                )));
            }
            continue;
        }
        let id: u32 = v.extract().map_err(|_| {
            value_error(format!("vocab[{token:?}] = {v} is not an id in 0..2**32-1"))
        })?;
        out.push((token, id));
    }
    Ok(out)
}

/// Merges as `tokenizer.json` lists them ("a b" or ["a", "b"]), or the text of a merges.txt
/// (then also the line of each merge, for error messages).
type Merges = (MergeList, Option<Vec<usize>>);

fn hf_merges(merges: &Bound<'_, PyAny>) -> PyResult<Merges> {
    if let Ok(text) = merges.cast::<PyString>() {
        let (m, lines) = parse_merges_txt(text.to_str()?).map_err(value_error)?;
        return Ok((m, Some(lines)));
    }
    let list = merges
        .cast::<PyList>()
        .map_err(|_| PyTypeError::new_err("merges must be a list or the text of merges.txt"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let pair = if let Ok(s) = item.cast::<PyString>() {
            parse_merge(s.to_str()?)
        } else {
            match item.extract::<Vec<String>>() {
                Ok(mut v) if v.len() == 2 => {
                    let b = v.pop().unwrap_or_default();
                    Some((v.pop().unwrap_or_default(), b))
                }
                _ => None,
            }
        };
        match pair {
            Some(p) => out.push(p),
            None => {
                return Err(value_error(format!(
                    "merges[{i}]: expected two tokens ('a b' or ['a', 'b']), got {item}"
                )))
            }
        }
    }
    Ok((out, None))
}

/// Run `f` over `texts` on `num_threads` threads in chunks, each chunk with a pooled scratch.
fn hf_par<R: Send>(
    pipeline: &HfPipeline,
    texts: &[PyBackedStr],
    num_threads: usize,
    f: impl Fn(&mut Scratch, &str) -> Result<R, String> + Sync,
) -> Result<Vec<R>, String> {
    let run = |chunk: &[PyBackedStr]| {
        pipeline.with_scratch(|s| chunk.iter().map(|t| f(s, t)).collect::<Result<Vec<R>, _>>())
    };
    if num_threads <= 1 || texts.len() <= 1 {
        return run(texts);
    }
    let size = texts.len().div_ceil(num_threads * 4).max(1);
    let parts: Vec<Result<Vec<R>, String>> =
        crate::pool::install_on(num_threads, || texts.par_chunks(size).map(run).collect());
    let mut out = Vec::with_capacity(texts.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

impl PyHfBpe {
    /// Ids and character offsets, trimmed as ByteLevel's post-processor does when `trim` is
    /// Some(add_prefix_space).
    fn ids_offsets(&self, text: &str, enc: Encoded, trim: Option<bool>) -> IdsOffsets {
        let (ids, mut offsets) = (enc.ids, enc.offsets);
        match trim {
            Some(prefix) => self.table.trim_offsets(text, &ids, &mut offsets, prefix),
            None => byte_to_char_offsets(text, &mut offsets),
        }
        (ids, offsets)
    }
}

/// An added token as `toklm.hf.spec.AddedToken` holds it (read by attribute); the content of a
/// `normalized` token comes already normalized.
#[derive(FromPyObject)]
struct AddedTokenArg {
    id: u32,
    content: String,
    single_word: bool,
    lstrip: bool,
    rstrip: bool,
    normalized: bool,
    special: bool,
}

#[pymethods]
impl PyHfBpe {
    /// `vocab`: {token: id}. `merges`: "a b" strings or [a, b] pairs in priority order, or the
    /// text of a merges.txt. `added`: `AddedTokenArg`s. `steps`: ("split",
    /// pattern, is_regex, behavior, invert) or ("byte_level", "", use_regex, "", add_prefix_space).
    #[new]
    #[pyo3(signature = (vocab, merges, *, byte_level, ignore_merges, byte_fallback, unk_token,
        fuse_unk, added, steps, decoder_byte_level))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        vocab: &Bound<'_, PyDict>,
        merges: &Bound<'_, PyAny>,
        byte_level: bool,
        ignore_merges: bool,
        byte_fallback: bool,
        unk_token: Option<String>,
        fuse_unk: bool,
        added: Vec<AddedTokenArg>,
        steps: Vec<(String, String, bool, String, bool)>,
        decoder_byte_level: bool,
    ) -> PyResult<Self> {
        let vocab = hf_vocab(vocab)?;
        let (merges, merge_lines) = hf_merges(merges)?;
        py.detach(|| {
            let alphabet = if byte_level {
                Alphabet::ByteLevel
            } else {
                Alphabet::Chars
            };
            let opts = BpeOptions {
                alphabet,
                ignore_merges,
                byte_fallback,
                unk_token,
                fuse_unk,
            };
            let model = HfBpe::with_merge_lines(&vocab, &merges, merge_lines.as_deref(), opts)?;
            let steps = steps
                .iter()
                .map(
                    |(kind, pattern, flag, behavior, other)| match kind.as_str() {
                        "split" => PreStep::split(pattern, *flag, behavior, *other),
                        "byte_level" => Ok(PreStep::byte_level(*other, *flag)),
                        _ => Err(format!("unknown pre-tokenizer step {kind:?}")),
                    },
                )
                .collect::<Result<Vec<_>, String>>()?;
            let (mut raw, mut normalized) = (Vec::new(), Vec::new());
            for a in &added {
                let t = AddedToken {
                    id: a.id,
                    content: a.content.clone(),
                    single_word: a.single_word,
                    lstrip: a.lstrip,
                    rstrip: a.rstrip,
                };
                if a.normalized {
                    normalized.push(t)
                } else {
                    raw.push(t)
                }
            }
            let entries = vocab.iter().map(|(s, id)| (s.as_str(), *id, false));
            let added_entries = added.iter().map(|a| (a.content.as_str(), a.id, a.special));
            let mut table = TokenTable::new(entries.chain(added_entries), decoder_byte_level)?;
            for a in added.iter().filter(|a| a.lstrip || a.rstrip) {
                table.set_stripping(a.id);
            }
            let pipeline = HfPipeline::new(
                model,
                AddedMatcher::new(raw),
                AddedMatcher::new(normalized),
                steps,
            );
            Ok::<_, String>(PyHfBpe { pipeline, table })
        })
        .map_err(value_error)
    }

    /// Token ids of `text`; `raw_stage=False` when raw added tokens were already cut out.
    #[pyo3(signature = (text, raw_stage = true))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        raw_stage: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let enc = py
            .detach(|| {
                self.pipeline
                    .with_scratch(|s| self.pipeline.encode(text, raw_stage, false, s))
            })
            .map_err(value_error)?;
        PyList::new(py, enc.ids)
    }

    /// Token ids and their (start, end) character offsets in `text`, trimmed as ByteLevel's
    /// post-processor does when `trim` is given (its add_prefix_space).
    #[pyo3(signature = (text, raw_stage = true, trim = None))]
    fn encode_with_offsets(
        &self,
        py: Python<'_>,
        text: &str,
        raw_stage: bool,
        trim: Option<bool>,
    ) -> PyResult<IdsOffsets> {
        py.detach(|| {
            self.pipeline
                .with_scratch(|s| self.pipeline.encode(text, raw_stage, true, s))
                .map(|enc| self.ids_offsets(text, enc, trim))
        })
        .map_err(value_error)
    }

    fn count(&self, py: Python<'_>, text: &str) -> PyResult<usize> {
        py.detach(|| {
            self.pipeline
                .with_scratch(|s| self.pipeline.encode(text, true, false, s))
        })
        .map(|e| e.ids.len())
        .map_err(value_error)
    }

    /// Token ids of many texts (all with the raw stage), on `num_threads` threads.
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<PyBackedStr>,
        num_threads: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let results = py.detach(|| {
            hf_par(&self.pipeline, &texts, num_threads, |s, t| {
                self.pipeline.encode(t, true, false, s).map(|e| e.ids)
            })
        });
        PyList::new(py, results.map_err(value_error)?)
    }

    /// Ids of many texts (all with the raw stage) as one flat token array and document offsets
    /// (see `FlatArrays`), in chunks of about 64 KB of text per task on `num_threads` threads.
    fn encode_batch_flat<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyList>,
        num_threads: usize,
    ) -> PyResult<FlatArrays<'py>> {
        let chunked = encode_str_list(py, texts, num_threads, |t, out| {
            let enc = self
                .pipeline
                .with_scratch(|s| self.pipeline.encode(t, true, false, s))?;
            out.extend(enc.ids);
            Ok::<_, String>(())
        })?
        .map_err(value_error)?;
        flat_arrays(py, chunked)
    }

    /// Token ids and character offsets of many texts, on `num_threads` threads.
    #[pyo3(signature = (texts, num_threads, trim = None))]
    fn encode_batch_with_offsets(
        &self,
        py: Python<'_>,
        texts: Vec<PyBackedStr>,
        num_threads: usize,
        trim: Option<bool>,
    ) -> PyResult<Vec<IdsOffsets>> {
        py.detach(|| {
            hf_par(&self.pipeline, &texts, num_threads, |s, t| {
                let enc = self.pipeline.encode(t, true, true, s)?;
                Ok(self.ids_offsets(t, enc, trim))
            })
        })
        .map_err(value_error)
    }

    /// `text` cut at added tokens with `normalized: false`: (id or None, char start, char end).
    fn split_raw(&self, text: &str) -> Vec<(Option<u32>, u32, u32)> {
        let matches = self.pipeline.raw_added.find_matches(text);
        let mut offsets: Vec<(u32, u32)> =
            matches.iter().map(|m| (m.1 as u32, m.2 as u32)).collect();
        byte_to_char_offsets(text, &mut offsets);
        matches
            .iter()
            .zip(offsets)
            .map(|(m, (s, e))| (m.0, s, e))
            .collect()
    }

    /// The bytes `ids` decode to; ValueError naming the first id that has no token.
    #[pyo3(signature = (ids, skip_special = false))]
    fn decode_bytes<'py>(
        &self,
        py: Python<'py>,
        ids: Vec<u32>,
        skip_special: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        py.detach(|| self.table.decode_into(&ids, skip_special, &mut out))
            .map_err(|id| value_error(format!("token id {id} is not in the vocabulary")))?;
        Ok(PyBytes::new(py, &out))
    }

    /// BPE of one word given as bytes (no added tokens, no pre-tokenizer, no cache).
    fn bpe_word<'py>(&self, py: Python<'py>, word: &[u8]) -> PyResult<Bound<'py, PyList>> {
        let mut out = Vec::new();
        self.pipeline
            .model
            .encode_word(word, &mut WordScratch::default(), &mut out);
        PyList::new(py, out.iter().map(|p| p.id))
    }

    /// The bytes of one token, or None when `id` has no token.
    fn token_bytes<'py>(&self, py: Python<'py>, id: u32) -> Option<Bound<'py, PyBytes>> {
        self.table.token_bytes(id).map(|b| PyBytes::new(py, b))
    }

    fn is_special(&self, id: u32) -> bool {
        self.table.is_special(id)
    }
}
