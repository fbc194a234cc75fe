"""A PyWPS deployment's configuration as wpsd's: the ``pywps`` and ``pywps_config`` settings,
``wpsd serve --pywps ... --pywps-config ...``."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import requests
from servers import HERE, start_wpsd

from helpers import free_port
from wpsd.config import load_settings

CONFIG = """\
[metadata:main]
identification_title = The institute's WPS
provider_name = The Institute

[server]
url = http://wps.example/wps
maxsingleinputsize = 200mb
maxrequestsize = 3mb
parallelprocesses = 3
cleantempdir = true

[wpsd_test]
greeting = hello from --pywps-config
"""


def test_pywps_settings_in_the_toml_file(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("PYWPS_CFG", raising=False)
    (tmp_path / "pywps.cfg").write_text(CONFIG)
    (tmp_path / "wpsd.toml").write_text(
        'pywps = ["my_processes.py"]\npywps_config = "pywps.cfg"\nmax_parallel_jobs = 8\n'
        '[metadata]\nprovider_name = "Us"\n')
    with caplog.at_level(logging.WARNING, logger="wpsd"):
        settings = load_settings(tmp_path / "wpsd.toml", {"WPSD_MAX_REQUEST_BYTES": "1000"})
    assert settings.processes == (str(tmp_path / "my_processes.py"),)
    assert settings.pywps_config == tmp_path / "pywps.cfg"
    # pywps.cfg gives the defaults: the TOML file and the environment win.
    assert settings.url == "http://wps.example/wps"
    assert settings.max_input_megabytes == 200.0
    assert (settings.max_parallel_jobs, settings.max_request_bytes) == (8, 1000)
    assert settings.metadata.title == "The institute's WPS"
    assert settings.metadata.provider_name == "Us"
    assert "ignored, having no wpsd meaning: server.cleantempdir, wpsd_test.greeting" in \
        caplog.text
    # The processes that read pywps.configuration find the same file.
    assert os.environ["PYWPS_CFG"] == str(tmp_path / "pywps.cfg")


def test_the_environment_names_it_too(tmp_path, monkeypatch):
    monkeypatch.delenv("PYWPS_CFG", raising=False)
    (tmp_path / "pywps.cfg").write_text(CONFIG)
    settings = load_settings(None, {"WPSD_PYWPS_CONFIG": str(tmp_path / "pywps.cfg")})
    assert settings.max_parallel_jobs == 3
    # Handed to a worker as WPSD_* variables, they are the same settings.
    assert load_settings(None, settings.to_environ()) == settings


def test_wpsd_serve_with_pywps_options(tmp_path: Path):
    config = tmp_path / "pywps.cfg"
    config.write_text(CONFIG.replace("http://wps.example/wps", "http://127.0.0.1:{port}/wps"))
    port = free_port()
    config.write_text(config.read_text().replace("{port}", str(port)))
    server = start_wpsd(tmp_path, port, "--pywps", str(HERE / "pywps_processes.py"),
                        "--pywps-config", str(config), module=None, process_settings=False)
    try:
        capabilities = requests.get(server.url, params={
            "service": "WPS", "request": "GetCapabilities"}, timeout=10).text
        assert "The institute's WPS" in capabilities
        answer = requests.get(server.url, params={
            "service": "WPS", "version": "1.0.0", "request": "Execute",
            "identifier": "configured", "RawDataOutput": "greeting"}, timeout=10)
        assert answer.text == "hello from --pywps-config"
        assert "ignored, having no wpsd meaning" in server.log_text()
    finally:
        server.stop()
