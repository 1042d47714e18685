"""Tool-call ids as OpenAI takes them in a conversation's history: at most 40 characters
("Invalid 'messages[3].tool_call_id': string too long. Expected a string with maximum length
40"). Anthropic sets no such bound, so an Anthropic client's tool_use id from another gateway
(or a long one it made itself) went to an OpenAI model as it came and came back as that 400
after routing.

A longer id is replaced by a digest of it (`call_` and 24 hex digits): the same id always
becomes the same one, so a call and the result answering it still pair, in this request and in
every later turn that sends them again. Nothing needs mapping back: OpenAI and Anthropic keep
no state between requests and check only the pairing inside each one, and the client keeps its
own ids. An id within the bound goes as it came, `toolu_...` included: both official SDKs type
a call's id as a plain string, and both APIs take the other's spelling in the history (OpenAI
any string of up to 40 characters, Anthropic [a-zA-Z0-9_-], which compat's encoding to it
already ensures), so no client is shown a renamed id it could fail to match."""

from __future__ import annotations

import hashlib

MAX_CALL_ID = 40


def openai_call_id(given: str) -> str:
    """`given`, or its stand-in when OpenAI would refuse it for its length."""
    if len(given) <= MAX_CALL_ID:
        return given
    return "call_" + hashlib.blake2b(given.encode(), digest_size=12).hexdigest()
