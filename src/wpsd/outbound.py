"""The outbound-request policy: where the server may send a request on a client's behalf.

Input references (a WPS ``xlink:href``, an OGC API ``{"href": ...}``) and OGC API callbacks
make the server open connections that a client chose. Without a policy that is server-side
request forgery: the client reads the server's loopback services, the cloud metadata endpoint or
the intranet through it. Every such request goes through :class:`OutboundPolicy`, which

* sends only the configured schemes, GET and POST, and a short list of request headers;
* resolves the host once and refuses it when any of its addresses is not public (loopback,
  private, link-local, CGNAT, multicast, reserved, documentation, or an IPv6 form that embeds
  such an IPv4 address), unless the setting ``allowed_reference_hosts`` opens it;
* connects to exactly the address it checked (no second DNS lookup, so no DNS rebinding),
  while the Host header, TLS SNI and the certificate check are still about the host name;
* follows redirects itself, checking every hop the same way;
* bounds the size of the answer and the time each request may take.

Its exceptions carry no WPS codes; callers map them::

    OutboundError          base: the URL concerned
    ├── OutboundInvalid    the request is malformed or asks for what is never sent (a bad URL,
    │                      a method or header outside the allow-list)
    ├── OutboundRefused    the destination is not allowed; ``setting`` names what would open it
    ├── OutboundFailed     sent, but no usable answer: unresolvable, no connection, a timeout,
    │                      too many redirects, HTTP status >= 400 (``status``)
    └── OutboundTooLarge   the answer is larger than allowed (``limit``)
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import re
import socket
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urljoin, urlsplit

import certifi
import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError

if TYPE_CHECKING:
    from .config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: the setting that opens non-public destinations, named in every refusal
HOSTS_SETTING = "allowed_reference_hosts"
SCHEMES_SETTING = "reference_schemes"
#: redirects followed before giving up
MAX_REDIRECTS = 5
#: request headers a client may set on a reference (WPS wps:Header); any other one, such as
#: Host, Cookie, Content-Length, Transfer-Encoding or X-Forwarded-For, could forge the request
#: or smuggle a second one, so it is refused, never silently dropped
ALLOWED_HEADERS = {name.lower(): name for name in (
    "Accept", "Accept-Language", "Authorization", "Content-Type", "If-Modified-Since",
    "If-None-Match", "Range", "User-Agent",
)}
METHODS = ("GET", "POST")
USER_AGENT = "wpsd"

_PORTS = {"http": 80, "https": 443}
_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?")
# RFC 7230 token characters: a header name outside them is not a header name.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Special-purpose ranges (IANA registries) that are not globally reachable but that some
# Python releases still call global; RFC 8215 local-use NAT64 may translate to any IPv4
# address, private ones included.
_NOT_GLOBAL = tuple(ipaddress.ip_network(n) for n in (
    "192.0.0.0/24", "192.88.99.0/24", "64:ff9b:1::/48", "100::/64", "2001::/23",
    "2001:db8::/32", "3fff::/20", "5f00::/16",
))


class OutboundError(Exception):
    """Base class of the policy's errors; ``str()`` is a message fit for the client."""

    def __init__(self, text: str, url: str) -> None:
        super().__init__(text)
        self.text = text
        self.url = url


class OutboundInvalid(OutboundError):
    """The request is malformed, or asks for a method or header the policy never sends."""


class OutboundRefused(OutboundError):
    """The policy does not send requests to this destination; ``setting`` would open it."""

    def __init__(self, text: str, url: str, setting: str = HOSTS_SETTING) -> None:
        super().__init__(text, url)
        self.setting = setting


class OutboundFailed(OutboundError):
    """The request was allowed but did not work; ``status`` is the HTTP status, if any."""

    def __init__(self, text: str, url: str, status: int | None = None) -> None:
        super().__init__(text, url)
        self.status = status


class OutboundTooLarge(OutboundError):
    """The answer is larger than ``limit`` bytes."""

    def __init__(self, text: str, url: str, limit: int) -> None:
        super().__init__(text, url)
        self.limit = limit


# ------------------------------------------------------------------ address rules


def is_public(address: IPAddress) -> bool:
    """Whether requests may go to an address without the operator's leave.

    Only public unicast addresses may, and an IPv6 address that embeds an IPv4 one (mapped,
    NAT64, 6to4, Teredo) only if that IPv4 address may too.
    """
    if isinstance(address, ipaddress.IPv4Address):
        return _public_unicast(address)
    # A mapped or NAT64 address is only a way to reach the IPv4 address inside it (Python
    # 3.11 does not unwrap ::ffff:127.0.0.1 for is_loopback): judge that one alone.
    inner = address.ipv4_mapped
    if inner is None and address in _NAT64:
        inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if inner is not None:
        return _public_unicast(inner)
    if int(address) >> 32 == 0:
        return False  # ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d
    embedded = [address.sixtofour, *(address.teredo or ())]
    return _public_unicast(address) and all(_public_unicast(a) for a in embedded if a)


def _public_unicast(address: IPAddress) -> bool:
    # is_global alone is not enough: Python counts multicast as global, and its lists of
    # special-purpose ranges changed between releases, so the classic properties are checked too.
    site_local = isinstance(address, ipaddress.IPv6Address) and address.is_site_local
    return address.is_global and not (
        address.is_multicast or address.is_private or address.is_loopback
        or address.is_link_local or address.is_reserved or address.is_unspecified or site_local
        or any(_in_network(address, network) for network in _NOT_GLOBAL)
    )


def _in_network(address: IPAddress, network: IPNetwork) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None \
            and isinstance(network, ipaddress.IPv4Network):
        return address.ipv4_mapped in network  # the same destination as the IPv4 address
    return address.version == network.version and address in network


def _host_name(text: str) -> str:
    """A host name in the form it is compared and sent in: lower case, ASCII, no final dot."""
    name = text.lower().rstrip(".")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"{text!r} is not a host name") from None
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError(f"{text!r} is not a host name")
    return name


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{text!r} is not a port")
    return int(text)


@dataclass(frozen=True)
class AllowedHost:
    """One entry of ``allowed_reference_hosts``: a host name or a network, perhaps with a port.

    A name entry matches URLs that name that host, whatever it resolves to; a network entry
    (an IP address is a network of one) matches URLs whose addresses all lie in it.
    """

    name: str | None = None
    network: IPNetwork | None = None
    port: int | None = None

    @classmethod
    def parse(cls, entry: str) -> AllowedHost:
        """Read ``name``, ``name:port``, ``10.1.0.0/16``, ``10.1.2.3:8080`` or ``[::1]:8080``.

        :raises ValueError: for anything else.
        """
        text = entry.strip().lower()
        if text.startswith("["):
            inside, closed, rest = text[1:].partition("]")
            if not closed or (rest and not rest.startswith(":")):
                raise ValueError(f"{entry!r} is not [IPv6 address]:port")
            network = ipaddress.IPv6Network(inside)
            return cls(network=network, port=_port(rest[1:]) if rest else None)
        try:
            return cls(network=ipaddress.ip_network(text, strict=False))
        except ValueError:
            if "/" in text:
                raise ValueError(f"{entry!r} is not a network") from None
        host, port = text, None
        if text.count(":") == 1:
            host, number = text.split(":")
            port = _port(number)
        try:
            return cls(network=ipaddress.ip_network(host), port=port)
        except ValueError:
            return cls(name=_host_name(host), port=port)

    def matches(self, host: str, port: int, addresses: Sequence[IPAddress]) -> bool:
        """Whether a URL for ``host:port`` that resolved to ``addresses`` is allowed."""
        if self.port is not None and self.port != port:
            return False
        if self.name is not None:
            return host == self.name
        network = self.network
        return network is not None and bool(addresses) and all(
            _in_network(a, network) for a in addresses)


# ------------------------------------------------------------------ the policy


@dataclass(frozen=True)
class Target:
    """A URL that passed the policy, and the addresses a request to it may connect to."""

    url: str
    scheme: str
    #: the host as sent in the Host header and TLS SNI (lower case, ASCII, no brackets)
    host: str
    port: int
    #: the checked addresses, tried in this order; nothing else is connected to
    addresses: tuple[str, ...]
    #: the request target: path and query
    path: str
    #: Basic credentials given in the URL (``user:password@``), for an Authorization header
    credentials: str | None = None

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _PORTS[self.scheme] else f"{host}:{self.port}"


@dataclass(frozen=True)
class OutboundPolicy:
    """Where and how the server may send requests chosen by a client (module docstring)."""

    #: URL schemes allowed; only http and https can be sent
    schemes: tuple[str, ...] = ("http", "https")
    #: destinations open although they are not public (``allowed_reference_hosts``)
    allowed_hosts: tuple[AllowedHost, ...] = ()
    #: seconds to wait for a connection, and then for each read
    timeout: float = 30.0
    max_redirects: int = MAX_REDIRECTS
    #: CA bundle for https; by default the one requests uses (certifi)
    ca_certs: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        """The policy that ``settings`` describe.

        :raises ValueError: for an ``allowed_reference_hosts`` entry that cannot be read.
        """
        return cls(
            schemes=tuple(s.lower() for s in settings.reference_schemes),
            allowed_hosts=tuple(AllowedHost.parse(e) for e in settings.allowed_reference_hosts),
            timeout=settings.reference_timeout,
        )

    def check(self, url: str) -> Target:
        """Check a URL without connecting: syntax, scheme, then the host's addresses.

        Cheap enough to refuse a request before a job exists; :meth:`fetch` checks again.

        :raises OutboundInvalid: for a URL that cannot be sent.
        :raises OutboundRefused: for a scheme or destination the policy does not allow.
        :raises OutboundFailed: when the host name does not resolve.
        """
        # A space in the path is sent percent-encoded; control characters could split the
        # request line, and no URL needs them.
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
            raise OutboundInvalid(f"{url!r} is not a valid URL (it holds control characters)",
                                  url)
        try:
            parts = urlsplit(url)
            given_port, hostname = parts.port, parts.hostname
        except ValueError:
            raise OutboundInvalid(f"{url!r} is not a valid URL", url) from None
        scheme = parts.scheme.lower()
        if scheme not in self.schemes or scheme not in _PORTS:
            raise OutboundRefused(
                f"{url}: the scheme {scheme or 'none'!r} is not allowed (setting "
                f"{SCHEMES_SETTING}; only http and https can be fetched)", url, SCHEMES_SETTING)
        if not hostname:
            raise OutboundInvalid(f"{url!r} names no host", url)
        try:
            if ":" in hostname:  # an IPv6 literal, perhaps with a zone (RFC 6874: %25eth0)
                host = unquote(hostname)
                ipaddress.IPv6Address(host)
            else:
                host = _host_name(hostname)
        except ValueError:
            raise OutboundInvalid(f"{url!r} does not name a valid host", url) from None
        port = given_port or _PORTS[scheme]
        addresses = self._resolve(host, port, url)
        parsed = [ipaddress.ip_address(a) for a in addresses]
        if not any(entry.matches(host, port, parsed) for entry in self.allowed_hosts) \
                and not all(is_public(a) for a in parsed):
            # The address is not named: a client should not learn what internal names resolve to.
            which = f"{host} is not a public address" if host in addresses \
                else f"{host} resolves to an address that is not public"
            raise OutboundRefused(
                f"{url} is not fetched: {which}; loopback, private, link-local and other "
                f"non-public destinations need the setting {HOSTS_SETTING}", url)
        credentials = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            credentials = base64.b64encode(pair.encode("utf-8")).decode("ascii")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return Target(url, scheme, host, port, tuple(addresses), path, credentials)

    def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        body: bytes | None = None,
        headers: Sequence[tuple[str, str]] = (),
        max_bytes: int,
    ) -> bytes:
        """Send a request that passes the policy and return the body of its answer.

        Redirects are followed (at most :attr:`max_redirects`), each hop checked like the
        first; 301, 302 and 303 turn a POST into a GET as browsers do, 307 and 308 keep it.

        :raises OutboundError: a subclass saying why nothing usable came back.
        """
        if method not in METHODS:
            raise OutboundInvalid(f"{url}: method {method!r} is not allowed; use GET or POST",
                                  url)
        sent = _client_headers(headers, url)
        target = self.check(url)
        for _ in range(self.max_redirects + 1):
            with self._exchange(target, method, body, sent) as response:
                location = response.headers.get("Location")
                if response.status in _REDIRECTS and location:
                    following = self.check(urljoin(target.url, location.strip()))
                    if response.status in (301, 302, 303) and method == "POST":
                        method, body = "GET", None
                        sent.pop("Content-Type", None)
                    if following.origin != target.origin:
                        # As browsers and requests do: credentials are for the origin they
                        # were given for, not for wherever it redirects.
                        sent.pop("Authorization", None)
                    target = following
                    continue
                if response.status >= 400:
                    raise OutboundFailed(f"{target.url} answered HTTP {response.status}",
                                         target.url, response.status)
                return _read(response, target.url, max_bytes)
        raise OutboundFailed(f"{url} redirects more than {self.max_redirects} times", url)

    def _resolve(self, host: str, port: int, url: str) -> list[str]:
        # The one DNS lookup of a hop: the addresses checked are the addresses connected to.
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise OutboundFailed(f"{url}: cannot resolve host {host!r}", url) from None
        addresses: list[str] = []
        for family, _, _, _, sockaddr in infos:
            address = str(sockaddr[0])
            if family in (socket.AF_INET, socket.AF_INET6) and address not in addresses:
                addresses.append(address)
        if not addresses:
            raise OutboundFailed(f"{url}: host {host!r} has no IP address", url)
        return addresses

    @contextmanager
    def _exchange(
        self, target: Target, method: str, body: bytes | None, headers: dict[str, str]
    ) -> Iterator[urllib3.BaseHTTPResponse]:
        """One request to the first checked address that takes the connection."""
        sent = {"Host": target.host_header, "User-Agent": USER_AGENT, "Accept": "*/*",
                "Accept-Encoding": "gzip, deflate"}
        if target.credentials:
            sent["Authorization"] = f"Basic {target.credentials}"
        sent.update(headers)
        failure: Exception | None = None
        for address in target.addresses:
            pool = self._pool(target, address)
            try:
                response = pool.urlopen(
                    method, target.path, body=body, headers=sent, retries=False,
                    redirect=False, assert_same_host=False, preload_content=False,
                )
            except NewConnectionError as exc:
                pool.close()
                failure = exc  # nothing was sent: the next checked address may answer
                continue
            except (HTTPError, OSError, ValueError, http.client.HTTPException) as exc:
                pool.close()
                raise OutboundFailed(f"could not fetch {target.url} ({_reason(exc)})",
                                     target.url) from None
            try:
                yield response
            finally:
                response.close()
                pool.close()
            return
        raise OutboundFailed(f"could not connect to {target.url} ({_reason(failure)})",
                             target.url)

    def _pool(self, target: Target, address: str) -> urllib3.HTTPConnectionPool:
        # Pinning: a urllib3 pool opened on the checked IP address connects there and nowhere
        # else, while the Host header is set explicitly and, for https, server_hostname makes
        # TLS send the host name as SNI and verify the certificate against that name, so a
        # pinned connection is checked exactly like an ordinary one. Driving urllib3 pools
        # directly, rather than requests, also means no proxies, .netrc or CA bundles taken
        # from the environment (a proxy would make its own DNS lookup behind the policy's
        # back), no cookies and no redirects followed behind it.
        timeout = urllib3.Timeout(connect=self.timeout, read=self.timeout)
        if target.scheme == "https":
            return urllib3.HTTPSConnectionPool(
                address, target.port, timeout=timeout, retries=False, maxsize=1,
                cert_reqs="CERT_REQUIRED", ca_certs=self.ca_certs or certifi.where(),
                server_hostname=target.host,
            )
        return urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False,
                                          maxsize=1)


def _reason(exc: BaseException | None) -> str:
    """What went wrong, in words for the client (no exception class names: those are ours)."""
    # First: urllib3's NewConnectionError is also (for old callers) a ConnectTimeoutError.
    if isinstance(exc, NewConnectionError | ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError):
        return "timed out"
    if isinstance(exc, urllib3.exceptions.SSLError | ssl.SSLError):
        return "TLS failed: the certificate or the handshake was refused"
    if isinstance(exc, urllib3.exceptions.ProtocolError | http.client.HTTPException):
        return "the answer was not valid HTTP, or the connection broke"
    return "network error"


def _client_headers(headers: Sequence[tuple[str, str]], url: str) -> dict[str, str]:
    """The client's headers, if every one is on the allow-list and well formed."""
    checked: dict[str, str] = {}
    for name, value in headers:
        canonical = ALLOWED_HEADERS.get(name.lower()) if _TOKEN.fullmatch(name) else None
        if canonical is None:
            raise OutboundInvalid(
                f"{url}: the header {name!r} may not be set; allowed are "
                f"{', '.join(ALLOWED_HEADERS.values())}", url)
        if any(c in value for c in "\r\n\0"):
            raise OutboundInvalid(f"{url}: the value of the header {name!r} has line breaks",
                                  url)
        checked[canonical] = value
    return checked


def _read(response: urllib3.BaseHTTPResponse, url: str, max_bytes: int) -> bytes:
    too_large = OutboundTooLarge(f"{url} is larger than the limit of {max_bytes} bytes", url,
                                 max_bytes)
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise too_large  # refused before any of it is read
    chunks, size = [], 0
    try:
        for chunk in response.stream(_CHUNK, decode_content=True):
            size += len(chunk)
            if size > max_bytes:
                raise too_large
            chunks.append(chunk)
    except (HTTPError, OSError, http.client.HTTPException) as exc:
        raise OutboundFailed(f"could not read {url} ({_reason(exc)})", url) from None
    return b"".join(chunks)
