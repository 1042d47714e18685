"""The Host names the sidecar answers to. A page on `evil.example` whose DNS name is rebound to
127.0.0.1 (DNS rebinding) reaches the sidecar as its own origin, so the browser lets it read the
answers and cross_site.py's Sec-Fetch-Site check does not see it; but its requests carry the
page's name in Host. The sidecar answers only to the names a local client uses: `localhost`,
any IP address (rebinding needs a DNS name: a page opened at an address is that address's own
origin), the bind address, and `server.allowed_hosts` (`"*"`: no check, for an operator whose
own proxy checks Host); any other Host is refused (421) before a handler runs. An HTTP/1.1
request with no Host or with several is refused (400, RFC 9112 3.2), whatever the allowlist.

Config parse (allowed_hosts_problem) and request check (HostCheck) live here; nothing else.
"""

from __future__ import annotations

import ipaddress
import operator

from arbiter.errors import ArbiterError, InvalidRequest

ANY_HOST = "*"
_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]"})
_LOCAL = ("localhost", "127.0.0.1", "[::1]")
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
_NAME = operator.itemgetter(0)  # a raw header line's name


class MisdirectedRequest(ArbiterError):
    status = 421
    code = "misdirected_request"
    type = "invalid_request_error"


class BadHostHeader(InvalidRequest):
    code = "invalid_host_header"


class HostCheck:
    """`check(host)`: the raw Host header (None when absent) or MisdirectedRequest. The usual
    values (a local name with or without the bound port) are one frozenset lookup."""

    __slots__ = ("_exact", "_exact_raw", "_names", "off")

    def __init__(self, bind_host: str, port: int, allowed: tuple[str, ...] | list[str]) -> None:
        self.off = ANY_HOST in allowed
        names = {*_LOCAL, *(n.lower() for n in allowed)}
        bind = bind_host.lower()
        if bind not in _WILDCARD_BINDS:
            names.add(f"[{bind}]" if ":" in bind and not bind.startswith("[") else bind)
        self._names = frozenset(names)
        self._exact = frozenset({*names, *(f"{n}:{port}" for n in names)})
        # as the header's bytes (a name that is not ASCII takes check_request's way)
        self._exact_raw = frozenset(n.encode() for n in self._exact if n.isascii())

    def check_scope(self, headers: list[tuple[bytes, bytes]], http_version: str) -> None:
        """check_request on an ASGI scope's raw `headers`: the usual request (one Host, a local
        name) is one scan and one lookup, without decoding every header (on each request)."""
        names = list(map(_NAME, headers))  # (the scans in C, not a comprehension a request)
        if names.count(b"host") == 1 and (
            self.off or headers[names.index(b"host")][1] in self._exact_raw
        ):
            return
        hosts = [value for name, value in headers if name == b"host"]
        self.check_request([h.decode("latin-1") for h in hosts], http_version)

    def check_request(self, hosts: list[str], http_version: str) -> None:
        """`hosts`: every Host line of the request. HTTP/1.1 needs exactly one (RFC 9112 3.2:
        a server MUST answer 400 otherwise: two could name different origins to two readers);
        HTTP/1.0 predates Host, so none is fine there."""
        if len(hosts) > 1:
            raise BadHostHeader(
                f"The request has {len(hosts)} Host headers; HTTP/1.1 allows exactly one."
            )
        if not hosts and http_version != "1.0":
            raise BadHostHeader(
                f"The request has no Host header; HTTP/{http_version} requires one."
            )
        self.check(hosts[0] if hosts else None)

    def check(self, host: str | None) -> None:
        # absent (HTTP/1.0): not a browser (every browser sends Host), so no page is behind it
        if host is None or self.off or host in self._exact or self._allowed(host):
            return
        raise MisdirectedRequest(
            f"This sidecar does not answer to the host {host[:100]!r}: it answers to localhost, "
            "IP addresses and the names in its config's server.allowed_hosts (a page whose DNS "
            "name points at this machine must not read it). If clients reach it by this name, "
            "the operator can add the name to server.allowed_hosts."
        )

    def _allowed(self, host: str) -> bool:
        """Another port, other letter case, or an IP address."""
        name = _name(host.lower())
        if name is None:
            return False
        return name in self._names or _is_ip(name)


def _name(host: str) -> str | None:
    """`host` without its port (`[v6]` keeps its brackets); None when it is malformed."""
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return None
        rest = host[end + 1 :]
        if rest and not (rest[0] == ":" and _is_port(rest[1:])):
            return None
        return host[: end + 1]
    name, sep, port = host.partition(":")
    if sep and not _is_port(port):
        return None
    return name


def _is_port(text: str) -> bool:
    return 0 < len(text) <= 5 and text.isascii() and text.isdigit()


def _is_ip(name: str) -> bool:
    try:
        if name.startswith("["):
            ipaddress.IPv6Address(name[1:-1])
        else:
            ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def bind_warning(bind_host: str, allowed: list[str]) -> str | None:
    """What clients of a sidecar bound beyond loopback with no `allowed_hosts` will meet: any
    that reach it by a DNS name (a Compose service, a load balancer) get 421 until it is listed.
    The check stays on: such a sidecar is as reachable from a rebound page as a local one."""
    if allowed or _is_loopback(bind_host):
        return None
    return (
        f"server.host {bind_host!r} is reachable from other machines, but only by IP address: "
        "a client that reaches it by a DNS name gets 421 until the name is in "
        'server.allowed_hosts (["*"]: no Host check, for a proxy that checks it)'
    )


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: whatever it resolves to, clients may use it (it is allowed)


def allowed_hosts_problem(names: list[str]) -> str | None:
    """Why `server.allowed_hosts` is not a list of host names (None when it is). Names only:
    any port is accepted, and a pattern would let a rebinding name match."""
    if ANY_HOST in names:
        return None if names == [ANY_HOST] else f'"{ANY_HOST}" (no check) must be the only entry'
    for name in names:
        if not _is_host_name(name.lower()):
            return (
                f"{name[:100]!r} is not a host name: give names the clients use (letters, "
                'digits, "-", "_" and dots), without scheme, port, path or wildcard '
                '(any port is accepted; IP addresses always are), or ["*"] for no check'
            )
    return None


def _is_host_name(name: str) -> bool:
    if not 0 < len(name) <= 253:
        return False
    labels = name.split(".")
    return all(
        0 < len(label) <= 63 and set(label) <= _LABEL_CHARS and "-" not in (label[0], label[-1])
        for label in labels
    )
