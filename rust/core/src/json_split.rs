//! Where a JSON container's children lie in its text, found without parsing them, so a large
//! request body can be parsed a piece at a time (`arbiter.chunked_json`): one parse of tens of
//! MB holds the GIL for all of it (a 28 MB body of a million small objects: 0.3-0.45 s).
//!
//! Only the structure between children is checked here (brackets, quotes and escapes, colons and
//! commas, whitespace); each piece is then parsed, and so fully checked, by the parser itself.
//! Anything unexpected gives `None`: the caller parses the text whole, as before.

/// A child span of a container: `start..end` in the text.
pub type Span = (usize, usize);

/// A member of an object: its key's span (quotes included) and its value's span.
pub type Member = (Span, Span);

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_ws(t: &[u8], mut i: usize, end: usize) -> usize {
    while i < end && is_ws(t[i]) {
        i += 1;
    }
    i
}

/// The end of the string whose opening quote is at `i` (one past its closing quote).
fn string_end(t: &[u8], mut i: usize, end: usize) -> Option<usize> {
    i += 1;
    while i < end {
        i += memchr::memchr2(b'"', b'\\', &t[i..end])?;
        if t[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
    }
    None
}

/// The end of the value starting at `i`, and how deep its containers nest (0 for a scalar).
/// A container's end is found by counting brackets outside strings; whether each bracket
/// closes its own kind is left to the parser of the piece that holds it.
fn value_end(t: &[u8], i: usize, end: usize) -> Option<(usize, usize)> {
    match *t.get(i)? {
        b'"' => string_end(t, i, end).map(|e| (e, 0)),
        b'{' | b'[' => {
            let (mut depth, mut deepest, mut j) = (0usize, 0usize, i);
            while j < end {
                match t[j] {
                    b'"' => {
                        j = string_end(t, j, end)?;
                        continue;
                    }
                    b'{' | b'[' => {
                        depth += 1;
                        deepest = deepest.max(depth);
                    }
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some((j + 1, deepest));
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < end && !is_ws(t[j]) && !matches!(t[j], b',' | b']' | b'}') {
                j += 1;
            }
            (j > i).then_some((j, 0))
        }
    }
}

/// How deep the containers of the value spanning `start..end` nest (`None`: not one value).
#[must_use]
pub fn depth(t: &[u8], start: usize, end: usize) -> Option<usize> {
    let i = skip_ws(t, start, end);
    let (e, d) = value_end(t, i, end)?;
    (skip_ws(t, e, end) == end).then_some(d)
}

/// The members of the object spanning exactly `start..end` (`{` at `start`, `}` at `end - 1`).
#[must_use]
pub fn members(t: &[u8], start: usize, end: usize) -> Option<Vec<Member>> {
    if end > t.len() || end < start + 2 || t[start] != b'{' || t[end - 1] != b'}' {
        return None;
    }
    let last = end - 1;
    let mut out = Vec::new();
    let mut i = skip_ws(t, start + 1, last);
    if i == last {
        return Some(out);
    }
    loop {
        if t[i] != b'"' {
            return None;
        }
        let key_end = string_end(t, i, last)?;
        let colon = skip_ws(t, key_end, last);
        if colon >= last || t[colon] != b':' {
            return None;
        }
        let v = skip_ws(t, colon + 1, last);
        let (v_end, _) = value_end(t, v, last)?;
        out.push(((i, key_end), (v, v_end)));
        let next = skip_ws(t, v_end, last);
        if next == last {
            return Some(out);
        }
        if t[next] != b',' {
            return None;
        }
        i = skip_ws(t, next + 1, last);
        if i >= last {
            return None;
        }
    }
}

/// The elements of the array spanning exactly `start..end`, in groups of consecutive elements
/// (with the commas between them) of about `piece` bytes; `true` marks a group of one element
/// larger than `piece` (a container the caller may split in its turn).
#[must_use]
pub fn element_groups(
    t: &[u8],
    start: usize,
    end: usize,
    piece: usize,
) -> Option<Vec<(Span, bool)>> {
    if end > t.len() || end < start + 2 || t[start] != b'[' || t[end - 1] != b']' {
        return None;
    }
    let last = end - 1;
    let mut out: Vec<(Span, bool)> = Vec::new();
    let mut i = skip_ws(t, start + 1, last);
    if i == last {
        return Some(out);
    }
    let mut group: Option<Span> = None;
    loop {
        let (e, _) = value_end(t, i, last)?;
        if e - i > piece {
            if let Some(g) = group.take() {
                out.push((g, false));
            }
            out.push(((i, e), true));
        } else {
            let g = group.get_or_insert((i, e));
            g.1 = e;
            if g.1 - g.0 >= piece {
                out.push((*g, false));
                group = None;
            }
        }
        let next = skip_ws(t, e, last);
        if next == last {
            if let Some(g) = group {
                out.push((g, false));
            }
            return Some(out);
        }
        if t[next] != b',' {
            return None;
        }
        i = skip_ws(t, next + 1, last);
        if i >= last {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_and_groups_of_a_body() {
        let t = br#" {"model" : "m", "messages":[{"a":"}]\""}, 1 ,[2,[3]] ,"x"], "n":null} "#;
        let start = t.iter().position(|&b| b == b'{').unwrap();
        let end = t.len() - 1;
        let m = members(t, start, end).unwrap();
        let text = |s: Span| std::str::from_utf8(&t[s.0..s.1]).unwrap();
        let keys: Vec<&str> = m.iter().map(|(k, _)| text(*k)).collect();
        assert_eq!(keys, [r#""model""#, r#""messages""#, r#""n""#]);
        assert_eq!(text(m[2].1), "null");
        let (from, to) = m[1].1;
        let groups = element_groups(t, from, to, 8).unwrap();
        let got: Vec<(&str, bool)> = groups.iter().map(|(s, big)| (text(*s), *big)).collect();
        assert_eq!(
            got,
            [
                (r#"{"a":"}]\""}"#, true),
                ("1 ,[2,[3]]", false),
                (r#""x""#, false)
            ]
        );
        assert_eq!(depth(t, 0, t.len()), Some(4));
    }

    #[test]
    fn broken_structure_is_none() {
        for t in [
            &br#"{"a":1 "b":2}"#[..],
            br#"{"a" 1}"#,
            br#"{"a":1,}"#,
            br"{1:1}",
            br#"{"a":"1}"#,
        ] {
            assert_eq!(
                members(t, 0, t.len()),
                None,
                "{}",
                String::from_utf8_lossy(t)
            );
        }
        for t in [&b"[1 2]"[..], b"[1,]", b"[,1]", b"[\"a]", b"[[1]"] {
            assert_eq!(element_groups(t, 0, t.len(), 4), None);
        }
        assert_eq!(depth(b"[1] 2", 0, 5), None);
        assert_eq!(element_groups(b"[ ]", 0, 3, 4), Some(vec![]));
        assert_eq!(members(b"{ }", 0, 3), Some(vec![]));
    }
}
