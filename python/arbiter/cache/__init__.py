"""The response cache: exact (keys.py) and semantic (a Matcher, matcher.py) lookups before
routing, entries persisted in the store and shared by replicas (service.py)."""

from arbiter.cache.matcher import Matcher, NullMatcher, SemanticMatch
from arbiter.cache.service import Lookup, ResponseCache

__all__ = ["Lookup", "Matcher", "NullMatcher", "ResponseCache", "SemanticMatch"]
