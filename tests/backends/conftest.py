from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from helpers import POSTGRES_VARIABLE, postgres_schema


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(POSTGRES_VARIABLE) else ["sqlite"]


@pytest.fixture(params=_backends())
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh, empty job database: a SQLite file, or a new schema in the test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.sqlite'}"
        return
    base = os.environ[POSTGRES_VARIABLE]
    with postgres_schema(base) as url:
        yield url
