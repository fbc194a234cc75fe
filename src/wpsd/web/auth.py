"""Who is calling: the authenticators of the ``auth`` setting, and the guard of every request.

=========  ==========================================================================
``none``   everyone is the one anonymous tenant (:data:`~wpsd.core.caller.ANONYMOUS`)
``tokens`` ``Authorization: Bearer TOKEN``, or HTTP Basic with the user name and the
           token as password; tokens are issued with ``wpsd users add``
``oidc``   a JWT of an OpenID Connect issuer, as a bearer token (:mod:`wpsd.web.oidc`)
``proxy``  the user a trusted reverse proxy names in a header (or ``REMOTE_USER``)
=========  ==========================================================================

The guard runs before every view (a ``before_request`` hook). It refuses state-changing
requests that a browser sends from another site with credentials it adds by itself
(*ambient* ones: the network position of a trusted network, HTTP Basic that a browser
remembers, the session of a proxy in front), identifies the caller, answers 401 with a
``WWW-Authenticate`` challenge when there is none, and keeps the caller for the views,
which pass it to the service (:func:`current_caller`).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote_plus, urlsplit

from flask import Flask, Response, g, jsonify, request
from werkzeug.wrappers import Request

from ..config import Settings
from ..core.caller import ANONYMOUS, Caller
from ..exceptions import Forbidden, NotAuthenticated, WPSError
from ..ports import Authenticator, UserStore
from ..protocol.ogcapi import encode as ogcapi_encode
from ..protocol.wps1 import encode
from ..protocol.wps1.parse import split_query
from ..protocol.wps2 import encode as encode2
from ..protocol.xml import to_bytes
from .errors import XML_TYPE

logger = logging.getLogger("wpsd")
REALM = "wpsd"
#: WPS operations that change nothing (any other one, Execute and Dismiss, does)
_READ_ONLY_OPERATIONS = {"getcapabilities", "describeprocess", "getstatus", "getresult"}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_USER_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,255}")


@dataclass(frozen=True)
class Admins:
    """Who is an admin besides the users the store says are: ``admin_users`` by name and
    the holders of ``admin_role``."""

    users: frozenset[str] = frozenset()
    role: str | None = None

    def caller(self, name: str, roles: Iterable[str], admin: bool = False) -> Caller:
        held = frozenset(r for r in roles if r)
        admin = admin or name in self.users or (self.role is not None and self.role in held)
        return Caller(name, held, admin)


class NoAuthentication:
    """``auth = "none"``: every request is the anonymous tenant's."""

    challenges: tuple[str, ...] = ()

    def identify(self, request: Request) -> Caller | None:
        return ANONYMOUS


class TokenAuthenticator:
    """``auth = "tokens"``: the API tokens of the user store, as bearer tokens or as the
    password of HTTP Basic (whose user name must then be the token's user)."""

    # Basic too, so that a browser asks for a name and a password (the token).
    challenges: tuple[str, ...] = (f'Bearer realm="{REALM}"',
                                   f'Basic realm="{REALM}", charset="UTF-8"')

    def __init__(self, users: UserStore, admins: Admins) -> None:
        self.users = users
        self.admins = admins

    def identify(self, request: Request) -> Caller | None:
        credentials = request.authorization
        if credentials is None:
            return None
        if credentials.type == "bearer":
            name, token = None, credentials.token
        elif credentials.type == "basic":
            name, token = credentials.username, credentials.password
        else:
            return None
        user = self.users.by_token(token) if token else None
        if user is None or (name is not None and name != user.name):
            raise NotAuthenticated("The token is not valid", invalid=True)
        return self.admins.caller(user.name, user.roles, user.admin)


class ProxyAuthenticator:
    """``auth = "proxy"``: the user named by a reverse proxy that authenticated it, in a
    header honoured only on connections from ``trusted_proxies``; or ``REMOTE_USER``, the
    WSGI variable that a server in front of wpsd (Apache with mod_wsgi) sets itself."""

    challenges: tuple[str, ...] = (f'Bearer realm="{REALM}"',)

    def __init__(self, header: str, roles_header: str | None, trusted: Iterable[str],
                 admins: Admins) -> None:
        self.header = header
        self.roles_header = roles_header
        self.trusted = tuple(ipaddress.ip_network(t, strict=False) for t in trusted)
        self.admins = admins

    def _from_proxy(self, request: Request) -> bool:
        try:
            peer = ipaddress.ip_address(request.remote_addr or "")
        except ValueError:
            return False
        if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
            peer = peer.ipv4_mapped
        return any(peer in network for network in self.trusted)

    def identify(self, request: Request) -> Caller | None:
        trusted = self._from_proxy(request)
        if self.header.upper() == "REMOTE_USER":
            # A client cannot set a WSGI variable; only the server in front of wpsd can.
            name = request.environ.get("REMOTE_USER")
        else:
            name = request.headers.get(self.header) if trusted else None
        if not name:
            return None
        name = name.strip()
        if not _USER_NAME.fullmatch(name):
            raise NotAuthenticated("The proxy named no valid user", invalid=True)
        roles: list[str] = []
        if self.roles_header and trusted:
            roles = [r.strip() for r in request.headers.get(self.roles_header, "").split(",")]
        return self.admins.caller(name, roles)


def authenticator_for(settings: Settings, users: UserStore) -> Authenticator:
    """The authenticator the ``auth`` setting names."""
    admins = Admins(frozenset(settings.admin_users), settings.admin_role)
    if settings.auth == "tokens":
        return TokenAuthenticator(users, admins)
    if settings.auth == "oidc":
        from .oidc import OIDCAuthenticator  # PyJWT: the oidc extra

        return OIDCAuthenticator(settings, admins)
    if settings.auth == "proxy":
        return ProxyAuthenticator(settings.proxy_user_header, settings.proxy_roles_header,
                                  settings.trusted_proxies, admins)
    return NoAuthentication()


def current_caller() -> Caller:
    """The caller of this request, as the guard identified it."""
    caller = g.get("wpsd_caller")
    if caller is None:  # a view the guard did not run for: serve nobody
        raise RuntimeError("no caller: the request did not pass the authentication guard")
    assert isinstance(caller, Caller)
    return caller


#: what anyone may ask for: the static files and the health checks (web/health.py)
_OPEN_ENDPOINTS = ("static", "ogcapi.leaflet", "ogcapi.favicon", "health_live", "health_ready")


def install_guard(app: Flask, authenticator: Authenticator, settings: Settings) -> None:
    """Check every request but those of the static files before its view runs."""
    own_hosts = set()
    if settings.url:
        own_hosts.add(urlsplit(settings.url).netloc.lower())

    def guard() -> Response | None:
        if request.endpoint in _OPEN_ENDPOINTS:
            return None
        try:
            if _changes_state() and _ambient() and _cross_site(own_hosts):
                raise Forbidden("Refused: a state-changing request from another site. Send "
                                "it from this server's pages or from a client of your own")
            caller = authenticator.identify(request)
            if caller is None:
                raise NotAuthenticated("Authentication is required")
        except WPSError as error:
            return _refusal(error, authenticator.challenges)
        g.wpsd_caller = caller
        return None

    app.before_request(guard)


def _changes_state() -> bool:
    """Whether a request may change something: any method but GET, HEAD and OPTIONS, and
    the WPS operations that run or dismiss (GET Execute, GET Dismiss)."""
    if request.method not in _SAFE_METHODS:
        return True
    if request.path.rstrip("/") != "/wps":
        return False
    operation = split_query(request.query_string.decode("utf-8", "replace")).get("request", "")
    return unquote_plus(operation).strip().lower() not in _READ_ONLY_OPERATIONS


def _ambient() -> bool:
    """Whether the request may carry credentials that a browser adds by itself. A bearer
    token never is: a page of another site cannot add an Authorization header to a request
    to this server (that needs a CORS preflight, which this server never grants)."""
    credentials = request.authorization
    return credentials is None or credentials.type != "bearer"


def _cross_site(own_hosts: set[str]) -> bool:
    """Whether a browser sent the request from a page of another site (Fetch Metadata, or
    the Origin where a browser sends no Sec-Fetch-Site). Clients that are no browsers send
    neither, and are no cross-site forgery."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        # "none": the user typed or chose the URL. "same-site" is refused too: a sibling
        # domain is another party's as often as not.
        return site.strip().lower() not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    if origin.strip().lower() == "null":  # a sandboxed or privacy-redirected page
        return True
    return urlsplit(origin.strip()).netloc.lower() not in own_hosts | {request.host.lower()}


def _refusal(error: WPSError, challenges: tuple[str, ...]) -> Response:
    """A 401 or 403 in the encoding of the request's protocol (logged as information: a
    browser's first request to a protected server is always one)."""
    logger.info("refused %s %s: %s", request.method, request.path, error.text)
    if request.path == "/wps" or request.path.startswith("/wps/"):
        query = split_query(request.query_string.decode("utf-8", "replace"))
        version2 = unquote_plus(query.get("version", "")).strip() == "2.0.0"
        report = encode2.exception_report(error) if version2 else encode.exception_report(error)
        response = Response(to_bytes(report), status=error.status, content_type=XML_TYPE)
    else:
        response = jsonify(ogcapi_encode.exception(error, request.path))
        response.status_code = error.status
    if isinstance(error, NotAuthenticated):
        for challenge in challenges:
            if error.invalid and challenge.startswith("Bearer "):
                # RFC 6750 3.1: say why, so that a client gets a new token, not retries.
                challenge += f', error="invalid_token", error_description="{error.text}"'
            response.headers.add("WWW-Authenticate", challenge)
    return response
