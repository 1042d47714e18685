"""Wire-format codecs: each protocol's requests, responses, stream events and errors <->
arbiter.canonical. Pure (no I/O); `compat.untranslatable` says what cannot cross protocols."""

from arbiter.protocols.compat import untranslatable

__all__ = ["untranslatable"]
