"""Serving user processes: the `wpsd serve` CLI and a real WSGI server (gunicorn)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from e2e_server import ROOT, start_server
from owslib.wps import SYNC, WebProcessingService

from helpers import free_port

WPSD = [sys.executable, "-m", "wpsd.cli"]


@pytest.fixture
def served(tmp_path):
    procs = []

    def serve(command: list[str]) -> WebProcessingService:
        port = free_port()
        proc, server = start_server([part.replace("PORT", str(port)) for part in command],
                                    tmp_path, port)
        procs.append(proc)
        return WebProcessingService(server.url, version="1.0.0")

    yield serve
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_serves_a_user_module_by_path(served):
    wps = served(WPSD + ["serve", "tests/sample_processes.py", "--host", "127.0.0.1",
                         "--port", "PORT"])
    assert "literal_types" in [p.identifier for p in wps.processes]
    assert wps.execute("multi", [("n", "2"), ("n", "3")], mode=SYNC).processOutputs[0].data == [
        "5"]


def test_cli_serves_modules_named_in_a_config_file(served, tmp_path: Path):
    config = tmp_path / "wpsd.toml"
    config.write_text('processes = ["demo"]\n[metadata]\ntitle = "Configured"\n'
                      'provider_name = "Tests"\n')
    wps = served(WPSD + ["serve", "--config", str(config), "--host", "127.0.0.1",
                         "--port", "PORT"])
    assert wps.identification.title == "Configured"
    assert wps.provider.name == "Tests"
    assert "say_hello" in [p.identifier for p in wps.processes]


def test_cli_without_processes_is_a_usage_error():
    result = subprocess.run(WPSD + ["serve"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "name at least one module" in result.stderr


def test_cli_reports_a_module_without_processes():
    result = subprocess.run(WPSD + ["serve", "json"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1 and "defines no wpsd processes" in result.stderr


@pytest.mark.parametrize(
    ("app", "env"),
    [("wpsd.wsgi:application", {"WPSD_PROCESSES": "demo"}), ("demo:create_demo_app()", {})],
)
def test_gunicorn(served, app, env, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    wps = served([sys.executable, "-m", "gunicorn", "--workers", "2", "--bind",
                  "127.0.0.1:PORT", app])
    execution = wps.execute("say_hello", [("name", "gunicorn")], mode=SYNC)
    assert execution.processOutputs[0].data == ["Hello gunicorn"]
