"""SQLUserStore: the users of ``auth = "tokens"``, in the job store's database.

A token is 32 random bytes (``secrets``), shown once when it is issued; the database keeps
its SHA-256 only. A salted, slow hash would add nothing: such a token cannot be guessed, so a
stolen hash is no shortcut to it, and every request is checked in microseconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets

import sqlalchemy as sa

from ..core.caller import User
from ..core.job import now
from .sql import SQLJobStore, users

#: every token starts so, which lets secret scanners (and people) recognise one
TOKEN_PREFIX = "wpsd_"
# No colon (HTTP Basic ends the user name at the first), no spaces or control characters.
_NAME = re.compile(r"[^\s:\x00-\x1f\x7f]{1,255}")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} is no user name: 1 to 255 characters, without spaces, "
                         "colons or control characters")
    return name


class SQLUserStore:
    """Users and the hashes of their tokens, in the tables of a :class:`SQLJobStore`."""

    def __init__(self, store: SQLJobStore) -> None:
        self._store = store

    def add(self, name: str, admin: bool = False, roles: tuple[str, ...] = ()) -> str:
        """Add a user; returns its token, which is not kept anywhere. ValueError if the name
        is taken or no name."""
        token = new_token()
        try:
            with self._store.transaction() as conn:
                conn.execute(users.insert().values(
                    name=check_name(name), token_hash=token_hash(token), admin=admin,
                    roles=json.dumps(sorted(set(roles))), created=now()))
        except sa.exc.IntegrityError:
            raise ValueError(f"there is a user {name!r} already") from None
        return token

    def new_token(self, name: str) -> str | None:
        """Give a user a new token (the old one stops working); None for unknown users."""
        token = new_token()
        with self._store.transaction() as conn:
            changed = conn.execute(users.update().where(users.c.name == name)
                                   .values(token_hash=token_hash(token))).rowcount
        return token if changed else None

    def remove(self, name: str) -> bool:
        with self._store.transaction() as conn:
            return bool(conn.execute(users.delete().where(users.c.name == name)).rowcount)

    def list_users(self) -> list[User]:
        with self._store.connection() as conn:
            return [_user(row) for row in conn.execute(sa.select(users).order_by(users.c.name))]

    def by_token(self, token: str) -> User | None:
        """The user whose token this is, or None."""
        digest = token_hash(token)
        with self._store.connection() as conn:
            row = conn.execute(sa.select(users).where(users.c.token_hash == digest)).first()
        # The lookup compared hashes, which tell nothing about the token; compare once more
        # in constant time all the same, so that no timing depends on what was sent.
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        return _user(row)


def _user(row: sa.Row[tuple[object, ...]]) -> User:
    created = row.created
    if created.tzinfo is None:  # SQLite hands back naive datetimes; all are UTC
        created = created.replace(tzinfo=dt.UTC)
    return User(row.name, bool(row.admin), tuple(json.loads(row.roles)), created)
