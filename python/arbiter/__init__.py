"""Arbiter: a cost-aware LLM routing sidecar (OpenAI-compatible proxy on localhost)."""

__version__ = "0.1.0"
__all__ = ["__version__"]
