//! Prompt features for the difficulty model: signed feature hashing of word uni/bigrams plus
//! 16 cheap text statistics, in one pass over the text. Pure and allocation-light.

use crate::error::CoreError;

/// Number of trailing text-statistic slots.
pub const N_STATS: usize = 16;
/// Smallest accepted feature dimension.
pub const MIN_DIM: usize = 64;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;
const KEYWORDS: [&[u8]; 6] = [
    b"def",
    b"class",
    b"return",
    b"import",
    b"function",
    b"select",
];

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Accumulates the hashed block and the word-level counts while the text is scanned.
struct Hasher<'a> {
    block: &'a mut [f32],
    prev: Vec<u8>,
    has_prev: bool,
    words: usize,
    word_chars: usize,
    max_word: usize,
    keywords: usize,
}

impl Hasher<'_> {
    fn add(&mut self, h: u64) {
        let bucket = (h % self.block.len() as u64) as usize;
        self.block[bucket] += if h >> 63 == 1 { -1.0 } else { 1.0 };
    }

    /// Emits one lowercase token (UTF-8 bytes): its unigram and the bigram with the previous one.
    fn token(&mut self, tok: &[u8]) {
        self.add(fnv1a(FNV_OFFSET, tok));
        if self.has_prev {
            let h = fnv1a(fnv1a(FNV_OFFSET, &self.prev), b" ");
            self.add(fnv1a(h, tok));
        }
        self.prev.clear();
        self.prev.extend_from_slice(tok);
        self.has_prev = true;
    }

    fn word(&mut self, tok: &[u8], chars: usize) {
        self.words += 1;
        self.word_chars += chars;
        self.max_word = self.max_word.max(chars);
        if KEYWORDS.contains(&tok) {
            self.keywords += 1;
        }
        self.token(tok);
    }
}

/// Character-class counts gathered in the same pass.
#[derive(Default)]
struct Counts {
    chars: usize,
    digits: usize,
    upper: usize,
    punct: usize,
    newlines: usize,
    math: usize,
    code: usize,
    questions: usize,
    numbers: usize,
    non_ascii: usize,
    sentences: usize,
}

fn ratio(part: usize, whole: usize) -> f32 {
    if whole == 0 {
        0.0
    } else {
        part as f32 / whole as f32
    }
}

fn ln1p(x: usize) -> f32 {
    (x as f32).ln_1p()
}

/// Returns `dim` features for `text`. `dim` must be >= 64 and a multiple of 8.
///
/// Slots `0..dim-16`: signed feature hashing of tokens, L2-normalised (all zeros for a text
/// without tokens). A token is a maximal run of Unicode alphanumeric chars (a word, lowercased
/// with Unicode rules) or any single other non-whitespace char (as is). Each unigram and each bigram of adjacent tokens
/// (`"a b"`, joined by one space) is hashed with FNV-1a 64 over its UTF-8 bytes;
/// bucket = `h % (dim - 16)`, sign = `-1` if bit 63 is set, else `+1`.
///
/// Slots `dim-16..dim`, in order (chars are Unicode scalar values):
///  0. `ln(1 + chars) / 10`
///  1. `ln(1 + words) / 8`
///  2. fraction of ASCII digits
///  3. fraction of uppercase chars
///  4. fraction of punctuation/symbol chars (neither alphanumeric nor whitespace)
///  5. `ln(1 + newlines) / 5`
///  6. fraction of math operator chars `+-*/=^%`
///  7. code-likeness: `0.5 * min(1, 5 * fraction of "{}();<>[]_#") + 0.5 * min(1, k / 3)`,
///     k = words equal (case-insensitively) to def/class/return/import/function/select
///  8. `min(question marks, 5) / 5`
///  9. `ln(1 + numbers) / 5`, a number = maximal run of ASCII digits
/// 10. `min(mean word length in chars, 10) / 10` (0 without words)
/// 11. `min(max word length in chars, 20) / 20`
/// 12. fraction of non-ASCII chars
/// 13. 1.0 if the text contains a code fence (three backticks), else 0.0
/// 14. `ln(1 + sentences) / 5`: a sentence ends at a run of `.!?` followed by whitespace or the
///     end of text; trailing text without a terminator counts as one more sentence
/// 15. 1.0 (bias)
pub fn prompt_features(text: &str, dim: usize) -> Result<Vec<f32>, CoreError> {
    if dim < MIN_DIM || !dim.is_multiple_of(8) {
        return Err(CoreError::InvalidInteger {
            name: "dim",
            value: i64::try_from(dim).unwrap_or(i64::MAX),
            rule: "must be >= 64 and a multiple of 8",
        });
    }
    let mut out = vec![0.0f32; dim];
    let (block, stats) = out.split_at_mut(dim - N_STATS);
    let mut hasher = Hasher {
        block,
        prev: Vec::with_capacity(32),
        has_prev: false,
        words: 0,
        word_chars: 0,
        max_word: 0,
        keywords: 0,
    };
    let c = scan(text, &mut hasher);
    let (words, word_chars, max_word, keywords) = (
        hasher.words,
        hasher.word_chars,
        hasher.max_word,
        hasher.keywords,
    );
    normalise(hasher.block);

    let mean_word = if words == 0 {
        0.0
    } else {
        word_chars as f32 / words as f32
    };
    let code =
        0.5 * (5.0 * ratio(c.code, c.chars)).min(1.0) + 0.5 * (keywords as f32 / 3.0).min(1.0);
    stats.copy_from_slice(&[
        ln1p(c.chars) / 10.0,
        ln1p(words) / 8.0,
        ratio(c.digits, c.chars),
        ratio(c.upper, c.chars),
        ratio(c.punct, c.chars),
        ln1p(c.newlines) / 5.0,
        ratio(c.math, c.chars),
        code,
        c.questions.min(5) as f32 / 5.0,
        ln1p(c.numbers) / 5.0,
        mean_word.min(10.0) / 10.0,
        max_word.min(20) as f32 / 20.0,
        ratio(c.non_ascii, c.chars),
        if text.contains("```") { 1.0 } else { 0.0 },
        ln1p(c.sentences) / 5.0,
        1.0,
    ]);
    Ok(out)
}

/// One pass over `text`: feeds tokens to `h` and returns the character counts.
fn scan(text: &str, h: &mut Hasher<'_>) -> Counts {
    let mut c = Counts::default();
    let mut word: Vec<u8> = Vec::with_capacity(64);
    let mut word_len = 0usize;
    let mut in_digits = false;
    let mut open_sentence = false;
    let mut in_terminators = false;
    let mut buf = [0u8; 4];
    for ch in text.chars() {
        c.chars += 1;
        let is_digit = ch.is_ascii_digit();
        if is_digit && !in_digits {
            c.numbers += 1;
        }
        in_digits = is_digit;
        c.digits += usize::from(is_digit);
        c.non_ascii += usize::from(!ch.is_ascii());
        if matches!(ch, '.' | '!' | '?') {
            in_terminators |= open_sentence;
        } else if ch.is_whitespace() {
            if in_terminators {
                c.sentences += 1;
                open_sentence = false;
                in_terminators = false;
            }
        } else {
            in_terminators = false;
            open_sentence = true;
        }
        if ch.is_alphanumeric() {
            c.upper += usize::from(ch.is_uppercase());
            word_len += 1;
            if ch.is_ascii() {
                word.push(ch.to_ascii_lowercase() as u8);
            } else {
                for lc in ch.to_lowercase() {
                    word.extend_from_slice(lc.encode_utf8(&mut buf).as_bytes());
                }
            }
            continue;
        }
        if word_len > 0 {
            h.word(&word, word_len);
            word.clear();
            word_len = 0;
        }
        if ch.is_whitespace() {
            c.newlines += usize::from(ch == '\n');
            continue;
        }
        c.punct += 1;
        c.math += usize::from(matches!(ch, '+' | '-' | '*' | '/' | '=' | '^' | '%'));
        c.code += usize::from(matches!(
            ch,
            '{' | '}' | '(' | ')' | ';' | '<' | '>' | '[' | ']' | '_' | '#'
        ));
        c.questions += usize::from(ch == '?');
        h.token(ch.encode_utf8(&mut buf).as_bytes());
    }
    if word_len > 0 {
        h.word(&word, word_len);
    }
    c.sentences += usize::from(open_sentence);
    c
}

fn normalise(block: &mut [f32]) {
    let norm = block.iter().map(|&x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        let inv = 1.0 / norm;
        for x in block.iter_mut() {
            *x *= inv;
        }
    }
}

#[cfg(test)]
#[expect(clippy::float_cmp, reason = "flag and bias slots are exact")]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STATS: usize = 64 - N_STATS;

    fn feats(text: &str) -> Vec<f32> {
        prompt_features(text, 64).unwrap()
    }

    #[test]
    fn rejects_bad_dims() {
        for dim in [0, 8, 56, 65, 100] {
            assert!(prompt_features("x", dim).is_err(), "{dim}");
        }
        assert_eq!(prompt_features("x", 72).unwrap().len(), 72);
    }

    #[test]
    fn empty_text_has_zero_block_and_bias() {
        let f = feats("");
        assert!(f[..STATS].iter().all(|&x| x == 0.0));
        assert_eq!(f[63], 1.0);
        assert!(f[STATS..63].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn hashed_block_matches_a_hand_computation() {
        // Tokens: "hello", "world"; unigrams + one bigram "hello world".
        let f = feats("Hello WORLD");
        let mut want = [0.0f32; STATS];
        for s in ["hello", "world", "hello world"] {
            let h = fnv1a(FNV_OFFSET, s.as_bytes());
            want[(h % STATS as u64) as usize] += if h >> 63 == 1 { -1.0 } else { 1.0 };
        }
        let norm = want.iter().map(|x| x * x).sum::<f32>().sqrt();
        for (got, w) in f[..STATS].iter().zip(want) {
            assert!((got - w / norm).abs() < 1e-6);
        }
    }

    #[test]
    fn fnv_reference_vectors() {
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn statistics_slots() {
        let f = feats("Is 2+2=4? Yes!\nDef class return.\n```x```");
        let s = &f[STATS..];
        assert!(s[0] > 0.0 && s[1] > 0.0);
        assert!(s[2] > 0.0, "digits");
        assert!(s[3] > 0.0, "upper");
        assert!(s[4] > 0.0, "punct");
        assert!((s[5] - (3.0f32).ln() / 5.0).abs() < 1e-6, "newlines");
        assert!(s[6] > 0.0, "math");
        assert!(s[7] >= 0.5, "code keywords: {}", s[7]);
        assert!((s[8] - 0.2).abs() < 1e-6, "questions");
        assert!((s[9] - (4.0f32).ln() / 5.0).abs() < 1e-6, "numbers 2,2,4");
        assert_eq!(s[13], 1.0);
        // Sentences: "Is 2+2=4?", "Yes!", "Def class return.", "```x```".
        assert!(
            (s[14] - (5.0f32).ln() / 5.0).abs() < 1e-6,
            "sentences {}",
            s[14] * 5.0
        );
        assert_eq!(s[15], 1.0);
    }

    #[test]
    fn decimals_do_not_end_sentences_and_non_ascii_counts() {
        let f = feats("Pi is 3.14 ok. Ünïcödé");
        let s = &f[STATS..];
        assert!((s[14] - (3.0f32).ln() / 5.0).abs() < 1e-6);
        assert!((s[12] - 4.0 / 22.0).abs() < 1e-6);
        assert!((s[11] - 7.0 / 20.0).abs() < 1e-6, "max word Ünïcödé");
    }

    #[test]
    fn case_and_unicode_words_fold() {
        assert_eq!(feats("ÜBER Straße")[..STATS], feats("über straße")[..STATS]);
        assert_ne!(feats("a b")[..STATS], feats("b a")[..STATS]);
    }

    proptest! {
        #[test]
        fn features_are_finite_bounded_and_normalised(text in ".{0,300}", k in 8usize..40) {
            let dim = k * 8;
            let f = prompt_features(&text, dim).unwrap();
            prop_assert_eq!(f.len(), dim);
            prop_assert!(f.iter().all(|x| x.is_finite()));
            let norm: f32 = f[..dim - N_STATS].iter().map(|x| x * x).sum::<f32>().sqrt();
            let has_token = text.chars().any(|c| !c.is_whitespace());
            let ok = if has_token { (norm - 1.0).abs() < 1e-4 } else { norm == 0.0 };
            prop_assert!(ok, "norm {} for {:?}", norm, text);
            prop_assert!(f[dim - N_STATS..].iter().all(|&x| (0.0..=2.0).contains(&x)));
            prop_assert_eq!(f, prompt_features(&text, dim).unwrap());
        }
    }
}
