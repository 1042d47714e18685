//! `arbiter._native`: the only `PyO3` code (here and in `routing.rs`). Thin wrappers over
//! `arbiter-core` that convert simple values, release the GIL around the kernels when the input
//! is large (`detach_if`), and map `CoreError` to `ValueError`.

use arbiter_core::length::DIM;
use arbiter_core::scan::{self, Groups, LinearRegex};
use arbiter_core::{CoreError, LogLinear, Reason};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::HashMap;

mod routing;

create_exception!(
    arbiter._native,
    NativeError,
    PyValueError,
    "Invalid input to an arbiter._native kernel (a ValueError)."
);

/// Newtype so the orphan rule lets us convert core errors into Python exceptions.
pub(crate) struct PyCoreError(CoreError);

impl From<CoreError> for PyCoreError {
    fn from(err: CoreError) -> Self {
        Self(err)
    }
}

impl From<PyCoreError> for PyErr {
    fn from(err: PyCoreError) -> Self {
        NativeError::new_err(err.0.to_string())
    }
}

/// The result of `choose`: which candidate, why, and the numbers behind the decision.
#[pyclass(name = "Choice", module = "arbiter._native", frozen, eq)]
#[derive(PartialEq)]
struct PyChoice {
    #[pyo3(get)]
    index: usize,
    reason: Reason,
    #[pyo3(get)]
    target: f64,
    #[pyo3(get)]
    scores: Vec<f64>,
    #[pyo3(get)]
    means: Vec<f64>,
}

#[pymethods]
impl PyChoice {
    #[getter]
    fn reason(&self) -> &'static str {
        self.reason.as_str()
    }

    fn __repr__(&self) -> String {
        format!(
            "Choice(index={}, reason='{}', target={:?}, scores={:?}, means={:?})",
            self.index,
            self.reason.as_str(),
            self.target,
            self.scores,
            self.means
        )
    }
}

/// The decision rule's knobs as `choose` and `decide_rows` take them (`baseline` -1: none).
pub(crate) fn policy(
    baseline: i64,
    quality_target: f64,
    explore: f64,
    seed: u64,
    cost_weight: f64,
    optimistic: bool,
) -> Result<arbiter_core::Policy, CoreError> {
    let baseline = match baseline {
        -1 => None,
        b => Some(usize::try_from(b).map_err(|_| CoreError::InvalidInteger {
            name: "baseline",
            value: b,
            rule: "must be -1 or a candidate index",
        })?),
    };
    Ok(arbiter_core::Policy {
        baseline,
        quality_target,
        explore,
        seed,
        cost_weight,
        optimistic,
    })
}

#[pyfunction]
#[pyo3(signature = (alpha, beta, cost, shift, baseline, quality_target, explore, seed, cost_weight = 0.0, order = None, optimistic = false))]
#[expect(
    clippy::too_many_arguments,
    reason = "mirrors the documented Python signature"
)]
fn choose(
    py: Python<'_>,
    alpha: Vec<f64>,
    beta: Vec<f64>,
    cost: Vec<f64>,
    shift: Vec<f64>,
    baseline: i64,
    quality_target: f64,
    explore: f64,
    seed: u64,
    cost_weight: f64,
    order: Option<Vec<usize>>,
    optimistic: bool,
) -> Result<PyChoice, PyCoreError> {
    let policy = policy(
        baseline,
        quality_target,
        explore,
        seed,
        cost_weight,
        optimistic,
    )?;
    let arms = arbiter_core::Arms {
        alpha: &alpha,
        beta: &beta,
        cost: &cost,
        shift: &shift,
    };
    // with the GIL held: a choice takes microseconds, and releasing the GIL on the event loop's
    // thread hands it to a waiting thread (the recorder) for a switch interval or an OS time
    // slice before the loop gets it back (bench/results/scale.md, tail, fourth session)
    let c = detach_if(py, alpha.len() > DETACH_ARMS, || match &order {
        None => arbiter_core::choose(&arms, &policy),
        Some(order) => arbiter_core::cost_order::choose_in_order(&arms, &policy, order),
    })?;
    Ok(PyChoice {
        index: c.index,
        reason: c.reason,
        target: c.target,
        scores: c.scores,
        means: c.means,
    })
}

#[pyfunction]
fn prompt_features<'py>(
    py: Python<'py>,
    text: &str,
    dim: usize,
) -> Result<Bound<'py, PyBytes>, PyCoreError> {
    let feats = detach_if(py, text.len() > DETACH_BYTES, || {
        arbiter_core::prompt_features(text, dim)
    })?;
    let bytes = PyBytes::new_with(py, feats.len() * 4, |buf| {
        for (chunk, x) in buf.chunks_exact_mut(4).zip(&feats) {
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        Ok(())
    })
    .expect("filling a fresh bytes buffer cannot fail");
    Ok(bytes)
}

#[pyfunction]
fn update_arm(alpha: f64, beta: f64, reward: f64, weight: f64) -> Result<(f64, f64), PyCoreError> {
    Ok(arbiter_core::update_arm(alpha, beta, reward, weight)?)
}

/// Reads the 16 text statistics from their bytes (little-endian f32, as `prompt_features`
/// writes them: the last `4 * DIM` bytes of its output).
pub(crate) fn stats_from(bytes: &[u8]) -> Result<[f64; DIM], CoreError> {
    if bytes.len() != 4 * DIM {
        return Err(CoreError::LengthMismatch {
            name: "stats",
            got: bytes.len(),
            expected: 4 * DIM,
        });
    }
    let mut x = [0.0; DIM];
    for (out, chunk) in x.iter_mut().zip(bytes.chunks_exact(4)) {
        *out = f64::from(f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]));
    }
    Ok(x)
}

/// One answer-length regression (`arbiter_core::LogLinear`); see the stub for the contract.
#[pyclass(name = "LogLinear", module = "arbiter._native")]
struct PyLogLinear(LogLinear);

#[pymethods]
impl PyLogLinear {
    #[new]
    fn new(weights: Vec<f64>, precision: Vec<f64>, noise_var: f64) -> Result<Self, PyCoreError> {
        Ok(Self(LogLinear::new(&weights, &precision, noise_var)?))
    }

    fn mean(&self, stats: &[u8]) -> Result<f64, PyCoreError> {
        Ok(self.0.mean(&stats_from(stats)?))
    }

    fn mean_sd(&self, stats: &[u8]) -> Result<f64, PyCoreError> {
        Ok(self.0.mean_sd(&stats_from(stats)?))
    }

    #[getter]
    fn noise_var(&self) -> f64 {
        self.0.noise_var()
    }

    #[getter]
    fn weights(&self) -> Vec<f64> {
        self.0.weights().to_vec()
    }

    fn observe(&mut self, stats: &[u8], y: f64, weight: f64) -> Result<(), PyCoreError> {
        Ok(self.0.observe(&stats_from(stats)?, y, weight)?)
    }
}

// -- token counts (arbiter_core::tokens) ----------------------------------------------------

/// The total number of tokens of `texts` in `encoding` (`"o200k_base"` or `"cl100k_base"`).
#[pyfunction]
#[pyo3(signature = (texts, encoding = "o200k_base"))]
fn count_tokens(py: Python<'_>, texts: Vec<String>, encoding: &str) -> PyResult<usize> {
    let enc = arbiter_core::tokens::Encoding::from_name(encoding).ok_or_else(|| {
        NativeError::new_err(format!(
            "invalid `encoding`: {encoding:?} (one of \"o200k_base\", \"cl100k_base\")"
        ))
    })?;
    let long = texts.iter().map(String::len).sum::<usize>() > DETACH_BYTES;
    Ok(detach_if(py, long, || {
        arbiter_core::tokens::count_tokens_many(&texts, enc)
    }))
}

// --- linear-time scanning (arbiter_core::scan): the only regex engine for untrusted text ------

/// Texts longer than this are scanned with the GIL released (shorter: the switch costs more).
const DETACH_BYTES: usize = 8192;
/// Choices over more arms than this run with the GIL released (fewer: microseconds).
const DETACH_ARMS: usize = 4096;

/// Runs `f`, with the GIL released only when `long`. Releasing it for microseconds of work
/// costs the caller (the event loop's thread) far more: a thread waiting for the GIL takes it,
/// and the caller waits for the switch interval, or that thread's next OS time slice on a busy
/// core, to get it back.
fn detach_if<T: Send>(py: Python<'_>, long: bool, f: impl FnOnce() -> T + Send) -> T {
    if long {
        py.detach(f)
    } else {
        f()
    }
}

/// `json_split::members`, flat: `key_start, key_end, value_start, value_end` per member.
#[pyfunction]
fn json_members(py: Python<'_>, text: &[u8], start: usize, end: usize) -> Option<Vec<usize>> {
    detach_if(py, end.saturating_sub(start) > DETACH_BYTES, || {
        let m = arbiter_core::json_split::members(text, start, end)?;
        Some(
            m.iter()
                .flat_map(|&((a, b), (c, d))| [a, b, c, d])
                .collect(),
        )
    })
}

/// `json_split::element_groups`, flat: `start, end, alone` per group (`alone`: 1 or 0).
#[pyfunction]
fn json_element_groups(
    py: Python<'_>,
    text: &[u8],
    start: usize,
    end: usize,
    piece: usize,
) -> Option<Vec<usize>> {
    detach_if(py, end.saturating_sub(start) > DETACH_BYTES, || {
        let g = arbiter_core::json_split::element_groups(text, start, end, piece)?;
        Some(
            g.iter()
                .flat_map(|&((a, b), big)| [a, b, usize::from(big)])
                .collect(),
        )
    })
}

/// `json_split::depth` of the whole text.
#[pyfunction]
fn json_depth(py: Python<'_>, text: &[u8]) -> Option<usize> {
    detach_if(py, text.len() > DETACH_BYTES, || {
        arbiter_core::json_split::depth(text, 0, text.len())
    })
}

/// One `arbiter_core::scan::LinearRegex`; see the stub for the contract.
#[pyclass(name = "LinearRegex", module = "arbiter._native", frozen)]
struct PyLinearRegex {
    inner: LinearRegex,
    pattern: String,
}

/// Matches as one flat list of code-point offsets: `start, end` per group, group 0 first, -1
/// for a group that did not take part. Flat ints (not tuples in lists) because Python's garbage
/// collector walks every container: a list per match made 400k matches cost 3x more.
fn char_offsets(text: &str, found: &[Groups]) -> Vec<i64> {
    let bytes: Vec<usize> = found
        .iter()
        .flatten()
        .flatten()
        .flat_map(|&(s, e)| [s, e])
        .collect();
    let mut chars = scan::to_char_offsets(text, &bytes).into_iter();
    let mut out = Vec::with_capacity(found.iter().map(Vec::len).sum::<usize>() * 2);
    for group in found.iter().flatten() {
        if group.is_some() {
            for _ in 0..2 {
                out.push(
                    chars
                        .next()
                        .map_or(-1, |c| i64::try_from(c).unwrap_or(i64::MAX)),
                );
            }
        } else {
            out.extend([-1, -1]);
        }
    }
    out
}

/// The byte span of code points `[pos, endpos)` of `text`.
fn byte_span(text: &str, pos: usize, endpos: Option<usize>) -> (usize, usize) {
    let end = endpos.map_or(text.len(), |e| scan::byte_offset(text, e));
    (scan::byte_offset(text, pos), end)
}

/// Runs `f`, with the GIL released when the text is long.
fn scan_with<T: Send>(py: Python<'_>, text: &str, f: impl FnOnce() -> T + Send) -> T {
    detach_if(py, text.len() > DETACH_BYTES, f)
}

#[pymethods]
impl PyLinearRegex {
    #[new]
    fn new(pattern: &str) -> PyResult<Self> {
        let inner = LinearRegex::new(pattern).map_err(NativeError::new_err)?;
        Ok(Self {
            inner,
            pattern: pattern.to_owned(),
        })
    }

    #[getter]
    fn pattern(&self) -> &str {
        &self.pattern
    }

    #[getter]
    fn groups(&self) -> usize {
        self.inner.group_count() - 1
    }

    #[getter]
    fn groupindex(&self) -> HashMap<String, usize> {
        let names = self.inner.group_names().into_iter().enumerate();
        names.filter_map(|(i, n)| n.map(|n| (n, i))).collect()
    }

    fn is_match(&self, py: Python<'_>, text: &str) -> bool {
        scan_with(py, text, || self.inner.is_match(text))
    }

    #[pyo3(signature = (text, pos = 0, endpos = None))]
    fn search(
        &self,
        py: Python<'_>,
        text: &str,
        pos: usize,
        endpos: Option<usize>,
    ) -> Option<Vec<i64>> {
        let (start, end) = byte_span(text, pos, endpos);
        let found = scan_with(py, text, || self.inner.captures_at(text, start, end))?;
        Some(char_offsets(text, &[found]))
    }

    #[pyo3(signature = (text, pos = 0, endpos = None))]
    fn search_all(
        &self,
        py: Python<'_>,
        text: &str,
        pos: usize,
        endpos: Option<usize>,
    ) -> Vec<i64> {
        let (start, end) = byte_span(text, pos, endpos);
        let found = scan_with(py, text, || self.inner.captures_all(text, start, end));
        char_offsets(text, &found)
    }

    fn __repr__(&self) -> String {
        format!("LinearRegex({:?})", self.pattern)
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyChoice>()?;
    m.add_class::<PyLogLinear>()?;
    m.add_class::<PyLinearRegex>()?;
    m.add_class::<routing::PyLengthTable>()?;
    m.add_class::<routing::PyPrices>()?;
    m.add_class::<routing::PyPackedArms>()?;
    m.add("NativeError", m.py().get_type::<NativeError>())?;
    m.add_function(wrap_pyfunction!(choose, m)?)?;
    m.add_function(wrap_pyfunction!(json_members, m)?)?;
    m.add_function(wrap_pyfunction!(json_element_groups, m)?)?;
    m.add_function(wrap_pyfunction!(json_depth, m)?)?;
    m.add_function(wrap_pyfunction!(routing::decide_rows, m)?)?;
    m.add_function(wrap_pyfunction!(routing::decide_rows_by_cost, m)?)?;
    m.add_function(wrap_pyfunction!(routing::decide_request, m)?)?;
    m.add_function(wrap_pyfunction!(routing::request_costs, m)?)?;
    m.add_function(wrap_pyfunction!(routing::pack_arms, m)?)?;
    m.add_function(wrap_pyfunction!(routing::slope_noise, m)?)?;
    m.add_function(wrap_pyfunction!(routing::gauss_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(routing::round_floats, m)?)?;
    m.add_function(wrap_pyfunction!(prompt_features, m)?)?;
    m.add_function(wrap_pyfunction!(update_arm, m)?)?;
    m.add_function(wrap_pyfunction!(count_tokens, m)?)?;
    Ok(())
}
