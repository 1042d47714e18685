//! Linear-time text scanning for untrusted text (client prompts, upstream answers).
//!
//! A thin layer over the engine of Rust's `regex` crate (`regex_automata::meta`), whose engines
//! run in O(pattern * text) time by construction: no backtracking, so no pattern can blow up on
//! adversarial input. Lookaround and backreferences do not compile here, which is the point:
//! Python's `re` backtracks, and a nested quantifier in it once froze the sidecar for seconds on
//! a ten-term sum. The bounded backtracker (fast on short texts, then a ~10x slower fallback
//! past a size threshold) is turned off so time per character does not jump with the text.
//!
//! Offsets: the core works in byte offsets; `to_char_offsets`/`byte_offset` convert for callers
//! (Python) that index by code point.

use regex_automata::meta::Regex;
use regex_automata::util::captures::Captures;
use regex_automata::{Input, PatternID};

/// Spans of the groups of one match, group 0 (the whole match) first; `None`: did not take part.
pub type Groups = Vec<Option<(usize, usize)>>;

/// Compiled size limit: generous for the project's patterns, bounded against a hostile one.
const SIZE_LIMIT: usize = 16 * (1 << 20);

/// One compiled pattern. Searches take a byte span `[start, end)` of `text`: the text is cut
/// at `end` (as Python's `endpos`), while assertions at `start` still see the text before it.
#[derive(Debug, Clone)]
pub struct LinearRegex {
    re: Regex,
}

impl LinearRegex {
    /// Compiles `pattern` (regex crate syntax). Lookaround and backreferences are refused;
    /// the error is the engine's message (it points at the offending part of the pattern).
    pub fn new(pattern: &str) -> Result<Self, String> {
        let config = Regex::config()
            .backtrack(false)
            .nfa_size_limit(Some(SIZE_LIMIT));
        let re = Regex::builder()
            .configure(config)
            .build(pattern)
            .map_err(|e| e.to_string())?;
        Ok(Self { re })
    }

    /// Number of capture groups, group 0 included.
    #[must_use]
    pub fn group_count(&self) -> usize {
        self.re.group_info().group_len(PatternID::ZERO)
    }

    /// Group names by index (`None` for unnamed groups), group 0 included.
    #[must_use]
    pub fn group_names(&self) -> Vec<Option<String>> {
        self.re
            .group_info()
            .pattern_names(PatternID::ZERO)
            .map(|n| n.map(str::to_owned))
            .collect()
    }

    /// True when the pattern matches anywhere in `text`.
    #[must_use]
    pub fn is_match(&self, text: &str) -> bool {
        self.re.is_match(text)
    }

    /// The leftmost-first match starting at or after `start` and ending by `end`.
    #[must_use]
    pub fn captures_at(&self, text: &str, start: usize, end: usize) -> Option<Groups> {
        let (hay, start) = clamp(text, start, end)?;
        self.search(hay, start, &mut None)
    }

    /// Every non-overlapping match in `[start, end)`, left to right (Python's `finditer`).
    #[must_use]
    pub fn captures_all(&self, text: &str, start: usize, end: usize) -> Vec<Groups> {
        let Some((hay, mut at)) = clamp(text, start, end) else {
            return Vec::new();
        };
        let mut caps = None;
        let mut out = Vec::new();
        while at <= hay.len() {
            let Some(groups) = self.search(hay, at, &mut caps) else {
                break;
            };
            let (s, e) = groups[0].unwrap_or((at, at));
            out.push(groups);
            // An empty match moves on by one character, as Python does.
            at = if e > s {
                e
            } else {
                e + hay[e..].chars().next().map_or(1, char::len_utf8)
            };
        }
        out
    }

    /// One search from `at`; `caps` is made on first need and reused by the caller's loop.
    fn search(&self, hay: &str, at: usize, caps: &mut Option<Captures>) -> Option<Groups> {
        let input = Input::new(hay).range(at..);
        if self.re.group_info().group_len(PatternID::ZERO) == 1 {
            // No groups: the DFAs alone give the span (no capture engine pass over the match).
            let m = self.re.search(&input)?;
            return Some(vec![Some((m.start(), m.end()))]);
        }
        let caps = caps.get_or_insert_with(|| self.re.create_captures());
        self.re.search_captures(&input, caps);
        if !caps.is_match() {
            return None;
        }
        let spans = (0..caps.group_len()).map(|i| caps.get_group(i).map(|s| (s.start, s.end)));
        Some(spans.collect())
    }
}

/// `text[..end]` and `start`, both snapped to the text (out of range: clamped, as Python does).
fn clamp(text: &str, start: usize, end: usize) -> Option<(&str, usize)> {
    let end = end.min(text.len());
    if start > end || !text.is_char_boundary(start) || !text.is_char_boundary(end) {
        return None;
    }
    Some((&text[..end], start))
}

/// Byte offset of code point `index` in `text` (the text's length when past the end).
#[must_use]
pub fn byte_offset(text: &str, index: usize) -> usize {
    if text.is_ascii() {
        return index.min(text.len());
    }
    text.char_indices()
        .nth(index)
        .map_or(text.len(), |(b, _)| b)
}

/// Code-point offsets of byte `offsets` (each on a char boundary), in one pass over `text`.
#[must_use]
pub fn to_char_offsets(text: &str, offsets: &[usize]) -> Vec<usize> {
    if text.is_ascii() {
        return offsets.to_vec();
    }
    let mut order: Vec<usize> = (0..offsets.len()).collect();
    order.sort_unstable_by_key(|&i| offsets[i]);
    let mut out = vec![0; offsets.len()];
    let (mut byte, mut chars) = (0usize, 0usize);
    let mut rest = text.chars();
    for i in order {
        while byte < offsets[i] {
            let Some(c) = rest.next() else { break };
            byte += c.len_utf8();
            chars += 1;
        }
        out[i] = chars;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(re: &LinearRegex, text: &str) -> Vec<(usize, usize)> {
        re.captures_all(text, 0, text.len())
            .into_iter()
            .map(|g| g[0].unwrap())
            .collect()
    }

    #[test]
    fn lookaround_and_backreferences_are_refused() {
        assert!(LinearRegex::new(r"(?<!\d)x").is_err());
        assert!(LinearRegex::new(r"x(?=\d)").is_err());
        assert!(LinearRegex::new(r"(a)\1").is_err());
        assert!(LinearRegex::new(r"(?:a+)+b").is_ok());
    }

    #[test]
    fn finds_like_python_finditer() {
        let re = LinearRegex::new(r"\d+").unwrap();
        assert_eq!(spans(&re, "a1 22 333"), vec![(1, 2), (3, 5), (6, 9)]);
        let empty = LinearRegex::new(r"x*").unwrap();
        assert_eq!(spans(&empty, "ab").len(), 3); // "", "", "" as re.finditer
        assert_eq!(spans(&empty, "é").len(), 2); // steps a whole character
    }

    #[test]
    fn end_cuts_the_text_and_start_keeps_context() {
        let re = LinearRegex::new(r"\bab\b").unwrap();
        assert!(re.captures_at("abc", 0, 2).is_some()); // "ab" then end of text
        assert!(re.captures_at("xab", 1, 3).is_none()); // \b sees the "x" before start
        let g = LinearRegex::new(r"(a)|(b)").unwrap();
        assert_eq!(
            g.captures_at("b", 0, 1).unwrap(),
            vec![Some((0, 1)), None, Some((0, 1))]
        );
        assert!(re.captures_at("ab", 3, 9).is_none());
        assert!(re.captures_at("é", 1, 2).is_none()); // not a char boundary
    }

    #[test]
    fn offsets_convert_between_bytes_and_code_points() {
        let text = "añb€c";
        assert_eq!(byte_offset(text, 2), 3);
        assert_eq!(byte_offset(text, 99), text.len());
        assert_eq!(to_char_offsets(text, &[7, 0, 3, 4, 8]), vec![4, 0, 2, 3, 5]);
        assert_eq!(to_char_offsets("abc", &[2]), vec![2]);
    }

    #[test]
    fn nested_quantifiers_compile_and_run_without_backtracking() {
        // The shape that froze Python's `re`: (operand op)+ operand over a long run that finally
        // fails. A backtracking engine never returns here; this one scans the text once.
        let re = LinearRegex::new(r"(?:(?:\d+\s*)+\+\s*)+\d+\s*=").unwrap();
        let text = "12 + ".repeat(20_000);
        assert!(re.captures_all(&text, 0, text.len()).is_empty());
        assert_eq!(re.captures_all("1 + 2 =", 0, 7).len(), 1);
    }
}
