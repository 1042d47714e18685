//! The routing kernels' bindings: the packed arm table, the pool's prices and answer-length
//! table, and the decision pass over them (`arbiter_core::arms`, `request_cost`, `batch`).

use crate::{policy, stats_from, PyCoreError};
use arbiter_core::batch::round_decimal;
use arbiter_core::length::DIM;
use arbiter_core::request_cost::{Answer, LengthRow, LengthTable, Pricing, Prompt};
use arbiter_core::CoreError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// `bytes` must hold whole `size`-byte items (a packed array from Python).
fn whole_items(name: &'static str, bytes: &[u8], size: usize) -> Result<(), CoreError> {
    if bytes.len().is_multiple_of(size) {
        return Ok(());
    }
    Err(CoreError::LengthMismatch {
        name,
        got: bytes.len(),
        expected: bytes.len() / size * size,
    })
}

fn f64s(name: &'static str, bytes: &[u8]) -> Result<Vec<f64>, CoreError> {
    whole_items(name, bytes, 8)?;
    Ok(bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect())
}

fn f64_bytes<'py>(py: Python<'py>, xs: &[f64]) -> Bound<'py, PyBytes> {
    PyBytes::new_with(py, xs.len() * 8, |buf| {
        for (chunk, x) in buf.chunks_exact_mut(8).zip(xs) {
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        Ok(())
    })
    .expect("filling a fresh bytes buffer cannot fail")
}

/// `arbiter_core::arms::pack_arms` of the six packed f64 columns (alpha, beta, learned, mean,
/// precision, center).
fn pack_columns(columns: [&[u8]; 6], gauss_above: f64) -> Result<Vec<f64>, CoreError> {
    const NAMES: [&str; 6] = ["alpha", "beta", "learned", "mean", "precision", "center"];
    let [alpha, beta, learned, mean, precision, center] =
        [0, 1, 2, 3, 4, 5].map(|i| f64s(NAMES[i], columns[i]));
    arbiter_core::arms::pack_arms(
        &alpha?,
        &beta?,
        &learned?,
        &mean?,
        &precision?,
        &center?,
        gauss_above,
    )
}

/// A packed arm table (`arbiter_core::arms`); see the stub for the contract.
#[pyfunction]
// 30.0: `arbiter_core::beta_draw::GAUSS_ABOVE` (a literal so the text signature shows it)
#[pyo3(signature = (alpha, beta, learned, mean, precision, center, gauss_above = 30.0))]
#[expect(
    clippy::too_many_arguments,
    reason = "mirrors the documented Python signature"
)]
pub(crate) fn pack_arms<'py>(
    py: Python<'py>,
    alpha: &[u8],
    beta: &[u8],
    learned: &[u8],
    mean: &[u8],
    precision: &[u8],
    center: &[u8],
    gauss_above: f64,
) -> Result<Bound<'py, PyBytes>, PyCoreError> {
    let columns = [alpha, beta, learned, mean, precision, center];
    Ok(f64_bytes(py, &pack_columns(columns, gauss_above)?))
}

/// The slope draws of `decide_rows` with `seed`; see the stub for the contract.
#[pyfunction]
pub(crate) fn slope_noise(py: Python<'_>, seed: u64, n: usize) -> Bound<'_, PyBytes> {
    f64_bytes(py, &arbiter_core::arms::slope_noise(seed, n))
}

/// The picks and their given costs of `decide_rows` and `decide_rows_by_cost`, read from bytes.
struct Given {
    picks: Vec<usize>,
    cost: Vec<f64>,
}

impl Given {
    fn read(picks: &[u8], cost: &[u8]) -> Result<Self, CoreError> {
        Ok(Self {
            picks: picks_from(picks)?,
            cost: f64s("cost", cost)?,
        })
    }

    fn request(
        &self,
        easiness: Option<f64>,
        center0: f64,
        top: usize,
    ) -> arbiter_core::arms::Request<'_> {
        arbiter_core::arms::Request {
            picks: &self.picks,
            cost: arbiter_core::arms::Costs::Given(&self.cost),
            rule_cost: None,
            easiness,
            center0,
            top,
            every_cost: false,
        }
    }
}

/// `choose` over a packed arm table's eligible rows; see the stub for the contract.
#[pyfunction]
#[pyo3(signature = (table, picks, cost, easiness, center0, baseline, quality_target, explore, seed, cost_weight = 0.0, top = 0))]
#[expect(
    clippy::too_many_arguments,
    reason = "mirrors the documented Python signature"
)]
#[expect(
    clippy::type_complexity,
    reason = "a plain tuple is the Python contract"
)]
pub(crate) fn decide_rows<'py>(
    py: Python<'py>,
    table: &[u8],
    picks: &[u8],
    cost: &[u8],
    easiness: Option<f64>,
    center0: f64,
    baseline: i64,
    quality_target: f64,
    explore: f64,
    seed: u64,
    cost_weight: f64,
    top: usize,
) -> Result<
    (
        usize,
        &'static str,
        f64,
        Bound<'py, PyBytes>,
        Bound<'py, PyBytes>,
        Vec<usize>,
    ),
    PyCoreError,
> {
    let (n_rows, row) = table_rows(table)?;
    let given = Given::read(picks, cost)?;
    let policy = policy(baseline, quality_target, explore, seed, cost_weight, false)?;
    let req = given.request(easiness, center0, top);
    let d = arbiter_core::arms::decide_rows(n_rows, row, &req, &policy)?;
    let c = d.choice;
    Ok((
        c.index,
        c.reason.as_str(),
        c.target,
        f64_bytes(py, &c.scores),
        f64_bytes(py, &c.means),
        d.top,
    ))
}

/// `decide_rows`'s choice with the arms visited cheapest first and the scan stopped early
/// (`arbiter_core::cost_order`); see the stub for the contract.
#[pyfunction]
#[pyo3(signature = (table, picks, cost, easiness, center0, baseline, quality_target, explore, seed, cost_weight = 0.0))]
#[expect(
    clippy::too_many_arguments,
    reason = "mirrors the documented Python signature"
)]
pub(crate) fn decide_rows_by_cost(
    table: &[u8],
    picks: &[u8],
    cost: &[u8],
    easiness: Option<f64>,
    center0: f64,
    baseline: i64,
    quality_target: f64,
    explore: f64,
    seed: u64,
    cost_weight: f64,
) -> Result<(usize, &'static str, f64, Vec<usize>), PyCoreError> {
    let (n_rows, row) = table_rows(table)?;
    let given = Given::read(picks, cost)?;
    let policy = policy(baseline, quality_target, explore, seed, cost_weight, false)?;
    let req = given.request(easiness, center0, 0);
    let d = arbiter_core::cost_order::decide_by_cost(n_rows, row, &req, &policy, 1, true)?;
    let c = d.choice;
    Ok((c.index, c.reason.as_str(), c.target, d.visited))
}

/// f64 values per packed arm row.
const W: usize = arbiter_core::arms::ARM_ROW;

/// A packed arm table owned here, so that a policy change re-packs only the arms it moved;
/// see the stub for the contract.
#[pyclass(name = "PackedArms", module = "arbiter._native")]
pub(crate) struct PyPackedArms {
    rows: Vec<f64>,
    gauss_above: f64,
}

#[pymethods]
impl PyPackedArms {
    #[new]
    // 30.0: `arbiter_core::beta_draw::GAUSS_ABOVE` (a literal so the text signature shows it)
    #[pyo3(signature = (alpha, beta, learned, mean, precision, center, gauss_above = 30.0))]
    fn new(
        alpha: &[u8],
        beta: &[u8],
        learned: &[u8],
        mean: &[u8],
        precision: &[u8],
        center: &[u8],
        gauss_above: f64,
    ) -> Result<Self, PyCoreError> {
        let columns = [alpha, beta, learned, mean, precision, center];
        let rows = pack_columns(columns, gauss_above)?;
        Ok(Self { rows, gauss_above })
    }

    fn __len__(&self) -> usize {
        self.rows.len() / arbiter_core::arms::ARM_ROW
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "mirrors the documented Python signature"
    )]
    fn set(
        &mut self,
        row: usize,
        alpha: f64,
        beta: f64,
        learned: bool,
        mean: f64,
        precision: f64,
        center: f64,
    ) -> Result<(), PyCoreError> {
        if row >= self.__len__() {
            return Err(CoreError::InvalidInteger {
                name: "row",
                value: i64::try_from(row).unwrap_or(i64::MAX),
                rule: "must be a row of the table",
            }
            .into());
        }
        let one = arbiter_core::arms::pack_arms(
            &[alpha],
            &[beta],
            &[f64::from(u8::from(learned))],
            &[mean],
            &[precision],
            &[center],
            self.gauss_above,
        )?;
        self.rows[row * W..(row + 1) * W].copy_from_slice(&one);
        Ok(())
    }

    /// The same table as `pack_arms` bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        f64_bytes(py, &self.rows)
    }
}

/// Every pool model's answer-length regression, in pool order; see the stub for the contract.
#[pyclass(name = "LengthTable", module = "arbiter._native")]
pub(crate) struct PyLengthTable {
    table: LengthTable,
    max_log: f64,
}

#[pymethods]
impl PyLengthTable {
    #[new]
    fn new(n: usize, max_log: f64) -> Result<Self, PyCoreError> {
        if max_log.is_nan() {
            return Err(CoreError::InvalidValue {
                name: "max_log",
                index: None,
                value: max_log,
                rule: "must not be NaN",
            }
            .into());
        }
        Ok(Self {
            table: LengthTable::new(n),
            max_log,
        })
    }

    fn __len__(&self) -> usize {
        self.table.len()
    }

    #[pyo3(signature = (row, weights, noise_var, offset))]
    fn set(
        &mut self,
        row: usize,
        weights: Vec<f64>,
        noise_var: f64,
        offset: bool,
    ) -> Result<(), PyCoreError> {
        let weights: [f64; DIM] =
            weights
                .as_slice()
                .try_into()
                .map_err(|_| CoreError::LengthMismatch {
                    name: "weights",
                    got: weights.len(),
                    expected: DIM,
                })?;
        Ok(self
            .table
            .set(row, LengthRow::fitted(offset, weights, noise_var))?)
    }
}

/// A pool's prices per million input and output tokens, in pool order (built once per pool).
#[pyclass(name = "Prices", module = "arbiter._native", frozen)]
pub(crate) struct PyPrices {
    price_in: Vec<f64>,
    price_out: Vec<f64>,
}

#[pymethods]
impl PyPrices {
    #[new]
    fn new(price_in: Vec<f64>, price_out: Vec<f64>) -> Result<Self, PyCoreError> {
        if price_in.len() != price_out.len() {
            return Err(CoreError::LengthMismatch {
                name: "price_out",
                got: price_out.len(),
                expected: price_in.len(),
            }
            .into());
        }
        for (name, prices) in [("price_in", &price_in), ("price_out", &price_out)] {
            if let Some(i) = prices.iter().position(|p| !(p.is_finite() && *p >= 0.0)) {
                return Err(CoreError::InvalidValue {
                    name,
                    index: Some(i),
                    value: prices[i],
                    rule: "must be finite and >= 0",
                }
                .into());
            }
        }
        Ok(Self {
            price_in,
            price_out,
        })
    }

    fn __len__(&self) -> usize {
        self.price_in.len()
    }
}

/// The cost arguments `decide_request` and `request_costs` share, as a `Pricing`.
fn pricing<'a>(
    prices: &'a PyPrices,
    lengths: Option<&'a PyLengthTable>,
    stats: Option<&[u8]>,
    pool_moments: (f64, f64),
    prompt_tokens: f64,
    max_tokens: Option<f64>,
    default_out: f64,
) -> Result<Pricing<'a>, CoreError> {
    let n = prices.price_in.len();
    let answer = match (lengths, stats) {
        (Some(t), Some(stats)) => Answer::Predicted(Prompt {
            table: &t.table,
            x: stats_from(stats)?,
            pool_mean: pool_moments.0,
            pool_noise_var: pool_moments.1,
            max_log: t.max_log,
        }),
        _ => Answer::Default(default_out),
    };
    Pricing::new(
        n,
        &prices.price_in,
        &prices.price_out,
        answer,
        prompt_tokens,
        max_tokens,
    )
}

/// Picks as the positions they name (negative: out of range, rejected by the kernel).
fn picks_from(picks: &[u8]) -> Result<Vec<usize>, CoreError> {
    whole_items("picks", picks, 8)?;
    Ok(picks
        .chunks_exact(8)
        .map(|c| {
            let i = i64::from_le_bytes(c.try_into().expect("8 bytes"));
            usize::try_from(i).unwrap_or(usize::MAX)
        })
        .collect())
}

/// A packed arm table's row reader, straight from its bytes (no copy of the whole table).
fn table_rows(
    table: &[u8],
) -> Result<
    (
        usize,
        impl Fn(usize) -> [f64; arbiter_core::arms::ARM_ROW] + '_,
    ),
    CoreError,
> {
    const ROW_BYTES: usize = arbiter_core::arms::ARM_ROW * 8;
    whole_items("table", table, ROW_BYTES)?;
    let row = |i: usize| {
        let mut out = [0.0; arbiter_core::arms::ARM_ROW];
        read_f64s(&table[i * ROW_BYTES..(i + 1) * ROW_BYTES], &mut out);
        out
    };
    Ok((table.len() / ROW_BYTES, row))
}

/// Little-endian f64s from `bytes` into `out` (as many as both hold).
fn read_f64s(bytes: &[u8], out: &mut [f64]) {
    for (x, c) in out.iter_mut().zip(bytes.chunks_exact(8)) {
        *x = f64::from_le_bytes(c.try_into().expect("8 bytes"));
    }
}

/// What `decide_request` records of a decision: positions, rounded scores and means, costs.
type Recorded = (Vec<usize>, Vec<f64>, Vec<f64>, Vec<f64>);

/// One routing decision with its costs computed in the pass; see the stub for the contract.
#[pyfunction]
#[pyo3(signature = (prices, lengths, stats, pool_moments, prompt_tokens, max_tokens, default_out, table, picks, rule_cost, easiness, center0, baseline, quality_target, explore, seed, cost_weight, top, record, optimistic = false))]
#[expect(
    clippy::too_many_arguments,
    reason = "mirrors the documented Python signature"
)]
#[expect(
    clippy::type_complexity,
    reason = "a plain tuple is the Python contract"
)]
pub(crate) fn decide_request<'py>(
    py: Python<'py>,
    prices: PyRef<'py, PyPrices>,
    lengths: Option<PyRef<'py, PyLengthTable>>,
    stats: Option<&[u8]>,
    pool_moments: (f64, f64),
    prompt_tokens: f64,
    max_tokens: Option<f64>,
    default_out: f64,
    table: PyRef<'py, PyPackedArms>,
    picks: &[u8],
    rule_cost: Option<&[u8]>,
    easiness: Option<f64>,
    center0: f64,
    baseline: i64,
    quality_target: f64,
    explore: f64,
    seed: u64,
    cost_weight: f64,
    top: usize,
    record: Option<(usize, usize)>,
    optimistic: bool,
) -> Result<
    (
        usize,
        &'static str,
        f64,
        Vec<usize>,
        (f64, usize, f64, Option<f64>),
        Option<Recorded>,
        Option<(
            Bound<'py, PyBytes>,
            Bound<'py, PyBytes>,
            Bound<'py, PyBytes>,
        )>,
    ),
    PyCoreError,
> {
    let pricing = pricing(
        &prices,
        lengths.as_deref(),
        stats,
        pool_moments,
        prompt_tokens,
        max_tokens,
        default_out,
    )?;
    let rows = &table.rows;
    let row = |i: usize| -> [f64; W] { rows[i * W..(i + 1) * W].try_into().expect("a row") };
    let n_rows = rows.len() / W;
    let picks = picks_from(picks)?;
    let rule_cost = rule_cost.map(|b| f64s("rule_cost", b)).transpose()?;
    let policy = policy(
        baseline,
        quality_target,
        explore,
        seed,
        cost_weight,
        optimistic,
    )?;
    let req = arbiter_core::arms::Request {
        picks: &picks,
        cost: arbiter_core::arms::Costs::Priced(&pricing),
        rule_cost: rule_cost.as_deref(),
        easiness,
        center0,
        top,
        // under an SLO (no records asked) every cost goes back
        every_cost: record.is_none(),
    };
    let n = if picks.is_empty() {
        n_rows
    } else {
        picks.len()
    };
    // past `all` candidates only the examined are recorded: the scan may stop early
    let stop_early = record.is_some_and(|(all, _)| n > all);
    let d = arbiter_core::cost_order::decide_by_cost(n_rows, row, &req, &policy, top, stop_early)?;
    let c = &d.choice;
    // what the reason says: the pick's score and cost, how many were drawn, the baseline's
    // cost (when the baseline is another candidate)
    let facts = (
        c.scores[c.index],
        d.visited.len(),
        d.cost[c.index],
        policy.baseline.filter(|&b| b != c.index).map(|b| d.cost[b]),
    );
    let (recorded, full) = match record {
        Some((all, best)) => {
            // every candidate up to `all`; past that the pick, the fallbacks, the baseline,
            // then the first examined (cheapest first), `best` in all (or the first three)
            let at: Vec<usize> = if n <= all {
                (0..n).collect()
            } else {
                let mut kept: Vec<usize> =
                    d.ranked.iter().chain(&policy.baseline).copied().collect();
                for &j in &d.visited {
                    if kept.len() >= best {
                        break;
                    }
                    if !kept.contains(&j) {
                        kept.push(j);
                    }
                }
                kept.sort_unstable();
                kept.dedup();
                kept
            };
            // scores and means lie in (0, 1) (clamped logits): 4 digits are always exact
            let round = |xs: &[f64]| -> Vec<f64> {
                at.iter()
                    .map(|&i| round_decimal(xs[i], 4).unwrap_or(xs[i]))
                    .collect()
            };
            let (scores, means) = (round(&c.scores), round(&c.means));
            let cost = at.iter().map(|&i| d.cost[i]).collect();
            (Some((at, scores, means, cost)), None)
        }
        None => (
            None,
            Some((
                f64_bytes(py, &c.scores),
                f64_bytes(py, &c.means),
                f64_bytes(py, &d.cost),
            )),
        ),
    };
    Ok((
        c.index,
        c.reason.as_str(),
        c.target,
        d.ranked,
        facts,
        recorded,
        full,
    ))
}

/// The expected cost of some pool rows for one request; see the stub for the contract.
#[pyfunction]
#[pyo3(signature = (prices, lengths, stats, pool_moments, prompt_tokens, max_tokens, default_out, rows))]
#[expect(
    clippy::too_many_arguments,
    reason = "mirrors the documented Python signature"
)]
pub(crate) fn request_costs<'py>(
    py: Python<'py>,
    prices: PyRef<'py, PyPrices>,
    lengths: Option<PyRef<'py, PyLengthTable>>,
    stats: Option<&[u8]>,
    pool_moments: (f64, f64),
    prompt_tokens: f64,
    max_tokens: Option<f64>,
    default_out: f64,
    rows: &[u8],
) -> Result<Bound<'py, PyBytes>, PyCoreError> {
    let pricing = pricing(
        &prices,
        lengths.as_deref(),
        stats,
        pool_moments,
        prompt_tokens,
        max_tokens,
        default_out,
    )?;
    let rows = picks_from(rows)?;
    if let Some(&bad) = rows.iter().find(|&&i| i >= prices.price_in.len()) {
        return Err(CoreError::InvalidInteger {
            name: "rows",
            value: i64::try_from(bad).unwrap_or(i64::MAX),
            rule: "must be a row of the pool",
        }
        .into());
    }
    let costs: Vec<f64> = rows.iter().map(|&i| pricing.cost(i)).collect();
    Ok(f64_bytes(py, &costs))
}

/// Python's `round(x, digits)` of many packed f64 values; see the stub for the contract.
#[pyfunction]
pub(crate) fn round_floats(values: &[u8], digits: u32) -> Result<Vec<Option<f64>>, PyCoreError> {
    if digits > 8 {
        return Err(CoreError::InvalidInteger {
            name: "digits",
            value: i64::from(digits),
            rule: "must be in 0..=8",
        }
        .into());
    }
    Ok(f64s("values", values)?
        .into_iter()
        .map(|x| round_decimal(x, digits))
        .collect())
}

/// The `random.gauss` pairs from packed 32-bit words; see the stub for the contract.
#[pyfunction]
pub(crate) fn gauss_pairs<'py>(
    py: Python<'py>,
    words: &[u8],
) -> Result<Bound<'py, PyBytes>, PyCoreError> {
    whole_items("words", words, 16)?;
    let words: Vec<u32> = words
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    Ok(f64_bytes(py, &arbiter_core::batch::gauss_pairs(&words)?))
}
