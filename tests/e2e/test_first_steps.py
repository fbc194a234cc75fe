"""A newcomer's first steps in a fresh clone: `python3 demo.py` before installing, what
`make demo` installs, and `make test` where the OGC schemas cannot be had."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from helpers import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_demo_py_without_wpsd_says_what_to_run():
    # -S: no site-packages, as a Python that wpsd was never installed into
    done = subprocess.run([sys.executable, "-S", "demo.py"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "ModuleNotFoundError" not in done.stderr
    assert "make demo" in done.stderr and "pip install -e" in done.stderr


def test_make_demo_installs_the_runtime_only():
    planned = subprocess.run(["make", "-n", "-B", "demo"], cwd=ROOT, capture_output=True,
                             text=True, timeout=60, check=True).stdout
    installs = [line for line in planned.splitlines() if "pip install" in line]
    assert any("-e '.[demo]'" in line for line in installs), planned
    assert not any("[test]" in line for line in installs), planned
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    tools = {"pytest", "playwright", "mypy", "schemathesis", "ruff", "hypothesis"}
    assert not {spec.split(">")[0].split("=")[0].split("[")[0] for spec in extras["demo"]} & tools


def test_tests_without_schemas_stop_once_with_one_message(tmp_path):
    # Neither the schema folder nor the network (a proxy that refuses every connection).
    closed = f"http://127.0.0.1:{free_port()}"
    env = dict(os.environ, WPSD_SCHEMAS=str(tmp_path / "no-schemas"),
               WPSD_SCHEMA_CACHE=str(tmp_path / "cache"), HTTP_PROXY=closed,
               HTTPS_PROXY=closed, http_proxy=closed, https_proxy=closed)
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_config.py", "tests/web/test_wps1.py"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, output
    assert output.count("The tests cannot run") == 1, output
    assert done.stderr.startswith("ERROR: The tests cannot run: The OGC schemas are needed")
    assert not re.search(r"\d+ (passed|failed|errors?)", output), "no test ran"
