"""Writes python/arbiter/models/priors.json (stdout) from the table below; figures and citations: python/arbiter/models/PRIORS.md."""
import json, sys
OPEN = ("chat", "creative", "open-ended", "summarization", "translation", "extraction")
# family, globs, {benchmark: (score in %, source key)}
F = [
 ("gpt-4o-mini", ["gpt-4o-mini*"], {"MMLU": (82.0, "oai-simple-evals"), "HumanEval": (87.2, "oai-simple-evals"), "MGSM": (87.0, "oai-simple-evals")}),
 ("gpt-4o", ["gpt-4o*", "chatgpt-4o*"], {"MMLU": (88.7, "oai-simple-evals"), "HumanEval": (90.2, "oai-simple-evals"), "MGSM": (90.5, "oai-simple-evals")}),
 ("gpt-4.1-nano", ["gpt-4.1-nano*"], {"MMLU": (80.1, "oai-gpt-4.1")}),
 ("gpt-4.1-mini", ["gpt-4.1-mini*"], {"MMLU": (87.5, "oai-gpt-4.1")}),
 ("gpt-4.1", ["gpt-4.1*"], {"MMLU": (90.2, "oai-gpt-4.1")}),
 ("gpt-4-turbo", ["gpt-4-turbo*", "gpt-4-1106*", "gpt-4-0125*"], {"MMLU": (84.7, "oai-simple-evals"), "HumanEval": (83.7, "oai-simple-evals"), "MGSM": (87.1, "oai-simple-evals"), "MT-Bench": (9.32, "lmsys-leaderboard")}),
 ("gpt-4", ["gpt-4", "gpt-4-0314*", "gpt-4-0613*", "gpt-4-32k*"], {"MMLU": (86.4, "gpt-4-report"), "GSM8K": (92.0, "gpt-4-report"), "HumanEval": (67.0, "gpt-4-report"), "MT-Bench": (8.99, "mt-bench-paper")}),
 ("gpt-3.5-turbo", ["gpt-3.5-turbo*"], {"MMLU": (70.0, "gpt-4-report"), "GSM8K": (57.1, "gpt-4-report"), "HumanEval": (48.1, "gpt-4-report"), "MT-Bench": (7.94, "mt-bench-paper")}),
 ("claude-3-opus", ["claude-3-opus*"], {"MMLU": (86.8, "claude-3-card"), "GSM8K": (95.0, "claude-3-card"), "HumanEval": (84.9, "claude-3-card")}),
 ("claude-3-sonnet", ["claude-3-sonnet*"], {"MMLU": (79.0, "claude-3-card"), "GSM8K": (92.3, "claude-3-card"), "HumanEval": (73.0, "claude-3-card")}),
 ("claude-3-haiku", ["claude-3-haiku*"], {"MMLU": (75.2, "claude-3-card"), "GSM8K": (88.9, "claude-3-card"), "HumanEval": (75.9, "claude-3-card")}),
 ("claude-3.5-sonnet", ["claude-3-5-sonnet*", "claude-3.5-sonnet*"], {"MMLU": (88.7, "claude-3.5-sonnet"), "GSM8K": (96.4, "claude-3.5-sonnet"), "HumanEval": (92.0, "claude-3.5-sonnet")}),
 ("claude-3.7-sonnet", ["claude-3-7-sonnet*", "claude-3.7-sonnet*"], "claude-3.5-sonnet"),
 ("claude-sonnet-4", ["claude-sonnet-4*", "claude-4-sonnet*"], "claude-3.5-sonnet"),
 ("claude-opus-4", ["claude-opus-4*", "claude-4-opus*"], "claude-3.5-sonnet"),
 ("claude-2", ["claude-2*"], {"MMLU": (78.5, "claude-2"), "GSM8K": (88.0, "claude-2"), "HumanEval": (71.2, "claude-2"), "MT-Bench": (8.18, "lmsys-leaderboard")}),
 ("claude-instant", ["claude-instant*"], {"MT-Bench": (7.85, "lmsys-leaderboard")}),
 ("llama-3.1-405b", ["*llama-3.1-405b*"], {"MMLU": (87.3, "llama-3.1-card"), "GSM8K": (96.8, "llama-3.1-card"), "HumanEval": (89.0, "llama-3.1-card")}),
 ("llama-3.1-70b", ["*llama-3.1-70b*", "llama3.1:70b*"], {"MMLU": (83.6, "llama-3.1-card"), "GSM8K": (95.1, "llama-3.1-card"), "HumanEval": (80.5, "llama-3.1-card")}),
 ("llama-3.1-8b", ["*llama-3.1-8b*", "llama3.1:8b*", "llama3.1"], {"MMLU": (69.4, "llama-3.1-card"), "GSM8K": (84.5, "llama-3.1-card"), "HumanEval": (72.6, "llama-3.1-card")}),
 ("llama-3-70b", ["*llama-3-70b*", "*llama3-70b*", "llama3:70b*"], {"MMLU": (82.0, "llama-3-card"), "GSM8K": (93.0, "llama-3-card"), "HumanEval": (81.7, "llama-3-card")}),
 ("llama-3-8b", ["*llama-3-8b*", "*llama3-8b*", "llama3:8b*", "llama3"], {"MMLU": (68.4, "llama-3-card"), "GSM8K": (79.6, "llama-3-card"), "HumanEval": (62.2, "llama-3-card")}),
 ("mixtral-8x7b", ["mixtral-8x7b*"], {"MMLU": (70.6, "mixtral-paper"), "GSM8K": (74.4, "mixtral-paper"), "HumanEval": (40.2, "mixtral-paper"), "MT-Bench": (8.30, "mixtral-paper")}),
 ("mistral-7b", ["mistral-7b*"], {"MMLU": (60.1, "mistral-paper"), "GSM8K": (52.2, "mistral-paper"), "HumanEval": (30.5, "mistral-paper"), "MT-Bench": (6.84, "mistral-paper")}),
 ("qwen2.5-72b", ["qwen2.5-72b*", "qwen-2.5-72b*"], {"MMLU-redux": (86.8, "qwen2.5-report"), "GSM8K": (95.8, "qwen2.5-report"), "HumanEval": (86.6, "qwen2.5-report"), "MT-Bench": (9.35, "qwen2.5-report")}),
 ("qwen2.5-7b", ["qwen2.5-7b*", "qwen-2.5-7b*"], {"MMLU-redux": (75.4, "qwen2.5-report"), "GSM8K": (91.6, "qwen2.5-report"), "HumanEval": (84.8, "qwen2.5-report"), "MT-Bench": (8.75, "qwen2.5-report")}),
 ("qwen-14b-chat", ["qwen-14b-chat*"], {"MT-Bench": (6.96, "lmsys-leaderboard")}),
 ("gemini-1.5-pro", ["gemini-1.5-pro*"], {"MMLU": (85.9, "gemini-1.5-report"), "GSM8K": (90.8, "gemini-1.5-report"), "HumanEval": (84.1, "gemini-1.5-report")}),
 ("gemini-1.5-flash", ["gemini-1.5-flash", "gemini-1.5-flash-0*", "gemini-1.5-flash-latest"], {"MMLU": (78.9, "gemini-1.5-report"), "GSM8K": (86.2, "gemini-1.5-report"), "HumanEval": (74.3, "gemini-1.5-report")}),
 ("gemma-7b", ["gemma-7b*"], {"MMLU": (64.3, "gemma-paper"), "GSM8K": (46.4, "gemma-paper"), "HumanEval": (32.3, "gemma-paper")}),
 ("gemma-2b", ["gemma-2b*"], {"MMLU": (42.3, "gemma-paper"), "GSM8K": (17.7, "gemma-paper"), "HumanEval": (22.0, "gemma-paper")}),
 ("vicuna-13b", ["vicuna-13b*"], {"MT-Bench": (6.57, "lmsys-leaderboard")}),
]
TASKS = {"GSM8K": ("math",), "MGSM": ("math",), "HumanEval": ("code",), "MMLU": ("knowledge",), "MMLU-redux": ("knowledge",), "MT-Bench": OPEN}
by = {}
out = []
for name, globs, figs in F:
    inherited = None
    if isinstance(figs, str):
        inherited, figs = figs, by[figs]
    by[name] = figs
    q, src = {}, {}
    has_gsm = "GSM8K" in figs
    for bench, (score, source) in figs.items():
        if bench == "MGSM" and has_gsm:
            continue
        p = score / 10 if bench == "MT-Bench" else score / 100
        for t in TASKS[bench]:
            q[t] = round(p, 4)
            src[t] = f"{bench} {score:g} ({source})" + (f"; inherited from {inherited}" if inherited else "")
    out.append({"family": name, "match": globs, "quality": q, "sources": src})
doc = {"about": "Family priors from public benchmark results: see python/arbiter/models/PRIORS.md; generated by scripts/priors_generate.py.",
       "quality": {}, "families": out}
json.dump(doc, sys.stdout, indent=1)
print()
