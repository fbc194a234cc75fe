"""Caller: who a request comes from, as the web layer's authenticator found out.

The web layer resolves the caller once per request (``wpsd.web.auth``) and passes it to
every :class:`~wpsd.core.service.Service` operation on processes and jobs; the core keeps no
notion of a current user of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """A user name, the roles it holds, and whether it is an admin.

    ``name`` is recorded as the owner of the jobs the caller starts; a caller sees and
    dismisses only its own jobs unless it is an admin. Roles decide which processes it may
    see and run (admins included: being an admin is about jobs, not processes). The empty
    name is the one anonymous tenant of ``auth = "none"``; authenticators never give it.
    """

    name: str
    roles: frozenset[str] = frozenset()
    admin: bool = False

    def owns(self, owner: str) -> bool:
        """Whether this caller may see and dismiss a job started by ``owner``."""
        return self.admin or owner == self.name

    def may_use(self, roles: Collection[str]) -> bool:
        """Whether this caller may see and run a process restricted to ``roles`` (any one
        of them is enough; no roles: everyone)."""
        return not roles or not self.roles.isdisjoint(roles)


#: the one tenant of ``auth = "none"``: every job is its own, as before there were users
ANONYMOUS = Caller("", admin=True)
#: the operator, at the command line: every job
OPERATOR = Caller("", admin=True)


@dataclass(frozen=True)
class User:
    """A user of ``auth = "tokens"``, as the user store keeps it (without its token)."""

    name: str
    admin: bool
    roles: tuple[str, ...]
    created: dt.datetime
