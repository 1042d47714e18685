//! Token counts with `OpenAI`'s byte-pair encodings (`o200k_base`, `cl100k_base`), for budget
//! reservations: a request's worst case must count what the upstream will bill, and the
//! chars / 4 rule of thumb undercounts CJK text, code and JSON schemas by 2-4x.
//!
//! The BPE tables are compiled into the binary by the `bpe-openai` crate (nothing is read or
//! downloaded at run time); its pre-tokenizer is `regex-automata`, linear in the input.

use bpe_openai::Tokenizer;

/// Which `OpenAI` encoding to count with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// GPT-4o, GPT-4.1, o-series, GPT-5.
    O200k,
    /// GPT-4, GPT-3.5.
    Cl100k,
}

impl Encoding {
    /// `"o200k_base"` / `"o200k"` or `"cl100k_base"` / `"cl100k"`; None for anything else.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "o200k_base" | "o200k" => Some(Self::O200k),
            "cl100k_base" | "cl100k" => Some(Self::Cl100k),
            _ => None,
        }
    }

    fn tokenizer(self) -> &'static Tokenizer {
        match self {
            Self::O200k => bpe_openai::o200k_base(),
            Self::Cl100k => bpe_openai::cl100k_base(),
        }
    }
}

/// The number of tokens `text` encodes to (exactly what tiktoken's `encode` returns).
#[must_use]
pub fn count_tokens(text: &str, encoding: Encoding) -> usize {
    encoding.tokenizer().count(text)
}

/// The sum of `count_tokens` over `texts` (one call for all of a request's parts).
#[must_use]
pub fn count_tokens_many<S: AsRef<str>>(texts: &[S], encoding: Encoding) -> usize {
    let tok = encoding.tokenizer();
    texts.iter().map(|t| tok.count(t.as_ref())).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert_eq!(Encoding::from_name("o200k_base"), Some(Encoding::O200k));
        assert_eq!(Encoding::from_name("cl100k"), Some(Encoding::Cl100k));
        assert_eq!(Encoding::from_name("p50k_base"), None);
    }

    #[test]
    fn matches_tiktoken_on_known_strings() {
        // tiktoken: len(enc.encode("hello world")) == 2 in both encodings
        assert_eq!(count_tokens("hello world", Encoding::O200k), 2);
        assert_eq!(count_tokens("hello world", Encoding::Cl100k), 2);
        assert_eq!(count_tokens("", Encoding::O200k), 0);
    }

    #[test]
    fn cjk_and_code_cost_more_than_chars_over_four() {
        let cjk = "東京は日本の首都であり、世界最大の都市圏の一つです。".repeat(20);
        let chars = cjk.chars().count();
        assert!(count_tokens(&cjk, Encoding::O200k) > chars / 4 * 2);
        let code = "{\"a\":[1,2,3],\"b\":{\"c\":null}}".repeat(50);
        assert!(count_tokens(&code, Encoding::O200k) > code.len() / 4);
    }

    #[test]
    fn many_is_the_sum() {
        let parts = ["hello world", "東京", "fn main() {}"];
        let sum: usize = parts.iter().map(|p| count_tokens(p, Encoding::O200k)).sum();
        assert_eq!(count_tokens_many(&parts, Encoding::O200k), sum);
    }

    #[test]
    fn never_more_than_bytes() {
        // byte-level BPE: every token covers at least one byte
        for text in ["a b c", "\u{1F600}\u{1F600}", "x\u{0}y", "   \n\n\t"] {
            assert!(count_tokens(text, Encoding::O200k) <= text.len());
        }
    }
}
