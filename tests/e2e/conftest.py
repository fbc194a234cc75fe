from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from e2e_server import Server, start_server

from helpers import free_port


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`python3 demo.py` on a free loopback port, as a user starts it."""
    port = free_port()
    proc, server = start_server(
        [sys.executable, "demo.py", "--host", "127.0.0.1", "--port", str(port)],
        tmp_path_factory.mktemp("demo"), port,
    )
    yield server
    proc.terminate()
    proc.wait(timeout=10)
