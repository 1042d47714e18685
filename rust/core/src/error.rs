//! The one error type of the core: every kernel validates its inputs and reports here.
//! No panics on bad input; rust/py maps each variant to a Python `ValueError`.

/// Everything a kernel can refuse. Each message names the offending argument.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoreError {
    /// A kernel that needs at least one candidate got none.
    #[error("no candidates: the input lists are empty")]
    Empty,
    /// Parallel input lists disagree in length.
    #[error("length mismatch: `{name}` has {got} items, expected {expected}")]
    LengthMismatch {
        name: &'static str,
        got: usize,
        expected: usize,
    },
    /// A scalar argument (or the item `index` of a list argument) is out of its domain.
    #[error("invalid `{name}`{}: {value} ({rule})", at(*.index))]
    InvalidValue {
        name: &'static str,
        index: Option<usize>,
        value: f64,
        rule: &'static str,
    },
    /// An integer argument is out of its domain.
    #[error("invalid `{name}`: {value} ({rule})")]
    InvalidInteger {
        name: &'static str,
        value: i64,
        rule: &'static str,
    },
}

fn at(index: Option<usize>) -> String {
    index.map(|i| format!("[{i}]")).unwrap_or_default()
}

impl CoreError {
    pub(crate) fn value(name: &'static str, value: f64, rule: &'static str) -> Self {
        Self::InvalidValue {
            name,
            index: None,
            value,
            rule,
        }
    }

    pub(crate) fn item(name: &'static str, index: usize, value: f64, rule: &'static str) -> Self {
        Self::InvalidValue {
            name,
            index: Some(index),
            value,
            rule,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_argument_and_index() {
        let e = CoreError::item("alpha", 3, -1.0, "must be finite and > 0");
        assert_eq!(
            e.to_string(),
            "invalid `alpha`[3]: -1 (must be finite and > 0)"
        );
        let e = CoreError::value("explore", 2.0, "must be in [0, 1]");
        assert_eq!(e.to_string(), "invalid `explore`: 2 (must be in [0, 1])");
        let e = CoreError::LengthMismatch {
            name: "beta",
            got: 2,
            expected: 3,
        };
        assert_eq!(
            e.to_string(),
            "length mismatch: `beta` has 2 items, expected 3"
        );
        let e = CoreError::InvalidInteger {
            name: "dim",
            value: 10,
            rule: "must be >= 64 and a multiple of 8",
        };
        assert!(e.to_string().contains("`dim`: 10"));
        assert!(CoreError::Empty.to_string().contains("empty"));
    }
}
