import os
from pathlib import Path

import pytest

from wpsd import load_settings


def test_defaults_without_file_or_environment():
    settings = load_settings(None, {})
    assert settings.languages == ("en-US",) and settings.max_sync_executions >= 2
    assert settings.max_queued_jobs == 10_000 and settings.embedded_worker is True
    assert settings.max_parallel_jobs == (os.cpu_count() or 2)


def test_file_then_environment(tmp_path):
    config = tmp_path / "wpsd.toml"
    config.write_text(
        'processes = ["my_module", "local.py"]\n'
        'output_dir = "out"\n'
        "max_sync_executions = 2\n"
        "[metadata]\n"
        'title = "My WPS"\n'
    )
    settings = load_settings(config, {"WPSD_MAX_SYNC_EXECUTIONS": "8",
                                      "WPSD_LANGUAGES": "en-US, de-DE"})
    assert settings.processes == ("my_module", str(tmp_path / "local.py"))
    assert settings.output_path == tmp_path / "out"
    assert settings.max_sync_executions == 8
    assert settings.languages == ("en-US", "de-DE")
    assert settings.metadata.title == "My WPS"
    assert settings.url is None


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("max_sync_executoins = 2\n", {}, "unknown settings"),
        ("[metadata]\ntitel = 'x'\n", {}, "unknown metadata"),
        ("", {"WPSD_MAX_SYNC_EXECUTIONS": "many"}, "max_sync_executions"),
    ],
)
def test_bad_settings_are_errors(tmp_path: Path, text, env, message):
    config = tmp_path / "wpsd.toml"
    config.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_settings(config, env)


def test_auth_settings_from_file_and_environment(tmp_path):
    config = tmp_path / "wpsd.toml"
    config.write_text(
        'auth = "proxy"\n'
        'trusted_proxies = ["10.0.0.5", "fd00::/64"]\n'
        'admin_users = ["ops"]\n'
        "[process_roles]\n"
        'model = ["staff", "partners"]\n'
    )
    settings = load_settings(config, {"WPSD_PROXY_ROLES_HEADER": "X-Groups"})
    assert settings.auth == "proxy" and settings.trusted_proxies == ("10.0.0.5", "fd00::/64")
    assert settings.roles_of_processes == {"model": ("staff", "partners")}
    assert settings.proxy_roles_header == "X-Groups" and settings.admin_users == ("ops",)
    # What a worker is given (to_environ) reads back the same.
    assert load_settings(None, settings.to_environ()).roles_of_processes == {
        "model": ("staff", "partners")}
    with pytest.raises(ValueError, match="process_roles"):
        load_settings(None, {"WPSD_PROCESS_ROLES": '{"model": "staff"}'})


def test_metrics_listen_from_file_and_environment(tmp_path):
    config = tmp_path / "wpsd.toml"
    config.write_text('metrics_listen = "127.0.0.1:9464"\n')
    settings = load_settings(config, {})
    assert settings.metrics_listen == "127.0.0.1:9464"
    assert settings.metrics_address == ("127.0.0.1", 9464)
    assert load_settings(config, {"WPSD_METRICS_LISTEN": "[::1]:9100"}).metrics_address == (
        "::1", 9100)
    assert load_settings(None, {"WPSD_METRICS_LISTEN": "localhost:9464"}).metrics_address == (
        "localhost", 9464)
    # unset, or set empty: /metrics of the web app
    assert load_settings(None, {}).metrics_address is None
    assert load_settings(None, {"WPSD_METRICS_LISTEN": ""}).metrics_listen is None
    # What a worker is given (to_environ) reads back the same.
    assert load_settings(None, settings.to_environ()).metrics_address == ("127.0.0.1", 9464)


@pytest.mark.parametrize("address", ["9464", ":9464", "127.0.0.1", "127.0.0.1:", "host:port",
                                     "127.0.0.1:0", "127.0.0.1:70000", "::1:9464",
                                     "http://127.0.0.1:9464", "a b:9464"])
def test_metrics_listen_must_be_host_and_port(address):
    with pytest.raises(ValueError, match="setting 'metrics_listen': .* is no host:port"):
        load_settings(None, {"WPSD_METRICS_LISTEN": address})


def test_metrics_listen_with_metrics_off_is_refused():
    with pytest.raises(ValueError, match="metrics_listen.*metrics = false"):
        load_settings(None, {"WPSD_METRICS_LISTEN": "127.0.0.1:9464", "WPSD_METRICS": "false"})
