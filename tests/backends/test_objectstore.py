"""Outputs in object storage (FsspecStorage) against a real S3 server on loopback (SeaweedFS),
and through wpsd servers whose every process uses it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
import tracemalloc
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from e2e_server import Server, start_server
from flask import Flask
from lxml import etree

from helpers import ASYNC, EXEC, NS, free_port
from support.seaweed import S3Server, seaweed_s3
from wpsd import Settings, process
from wpsd.backends.filesystem import FileStorage
from wpsd.backends.objectstore import FsspecStorage
from wpsd.backends.outputs import open_storage
from wpsd.backends.sql import SQLJobStore
from wpsd.core.execution import ProducedOutput, collect_outputs, select_outputs
from wpsd.core.results import SelectedOutput, output_values
from wpsd.core.retention import cleanup
from wpsd.datatypes.outputs import ComplexOutput
from wpsd.exceptions import NoApplicableCode
from wpsd.formats import BINARY, TEXT, XML
from wpsd.ports import OutputStorage
from wpsd.protocol.requests import OutputRequest
from wpsd.web.outputs import serve_output

MiB = 1024 * 1024


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with seaweed_s3(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


def s3_storage(s3: S3Server, **kwargs: Any) -> FsspecStorage:
    """Storage below a prefix of its own in the shared bucket."""
    return FsspecStorage(f"s3://{s3.bucket}/{uuid.uuid4().hex}", s3.options, **kwargs)


@pytest.fixture(params=["s3", "fsspec-local", "directory"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> OutputStorage:
    """Each storage on the same contract: FsspecStorage on S3 and on a local folder (the same
    code over another filesystem), and FileStorage."""
    if request.param == "directory":
        return FileStorage(tmp_path / "outputs")
    if request.param == "fsspec-local":
        return FsspecStorage(f"file://{tmp_path / 'outputs'}")
    return s3_storage(request.getfixturevalue("s3"))


def read_all(storage: OutputStorage, key: str) -> bytes:
    found = storage.open(key)
    assert found is not None
    with found.open() as stream:
        return stream.read()


def test_store_open_and_delete(storage, tmp_path):
    key = storage.store("job-1", "doc", b"<a/>", XML)
    assert key == "job-1/doc.xml"
    found = storage.open(key)
    assert found is not None
    assert (found.path is None) == isinstance(storage, FsspecStorage)  # files are sent as such
    assert (found.content_type, found.size) == (XML.content_type, 4)
    assert read_all(storage, key) == b"<a/>"
    source = tmp_path / "made.txt"
    source.write_text("from a file")
    assert storage.store("job-1", "text", source, TEXT) == "job-1/text.txt"
    assert read_all(storage, "job-1/text.txt") == b"from a file"
    assert storage.url(key) is None  # no presigning asked for: references are wpsd links
    storage.delete("job-1")
    assert storage.open(key) is None and storage.open("job-1/text.txt") is None
    storage.delete("job-1")  # nothing left to delete: no error


def test_folders_older_than(storage):
    storage.store("old", "a", b"1", TEXT)
    storage.store("new", "a", b"2", TEXT)
    assert sorted(storage.folders_older_than(time.time() + 60)) == ["new", "old"]
    assert storage.folders_older_than(time.time() - 3600) == []
    storage.delete("old")
    assert storage.folders_older_than(time.time() + 60) == ["new"]


@pytest.mark.parametrize("key", [
    "x/y", "../../etc/passwd", "a/b/c", "job-2/out.txt.type", ".x/out.txt", "job-2/.out",
    "/job-2/out.txt", "job-2/", "", "job-2/out.txt/..", "job-2\\out.txt",
])
def test_keys_that_escape_are_refused(storage, key):
    storage.store("job-2", "out", b"x", TEXT)
    assert storage.open(key) is None
    assert storage.url(key) is None


@process("made_file", "A file", outputs=[ComplexOutput("file", "File", formats=[BINARY])])
def made_file() -> dict[str, Any]:
    raise NotImplementedError  # collect_outputs is given what it would return


def test_a_file_output_is_stored_from_its_path(storage, tmp_path):
    made = tmp_path / "made.bin"
    made.write_bytes(b"\x00\x01")
    selected = select_outputs(made_file, [OutputRequest("file", as_reference=True)])
    [produced] = collect_outputs(made_file, {"file": made}, selected, "job-8", storage)
    assert produced.key == "job-8/file.bin" and produced.format == BINARY
    assert read_all(storage, produced.key) == b"\x00\x01"
    with pytest.raises(NoApplicableCode, match="'file'"):
        collect_outputs(made_file, {"file": tmp_path / "gone"}, selected, "job-8", storage)


def test_names_cannot_place_objects_outside_the_prefix(s3):
    storage = s3_storage(s3)
    key = storage.store("../../evil", "../../name", b"x", TEXT)
    assert "/" not in key.split("/", 1)[1]
    fs = storage._fs()
    assert all(p.startswith(storage._root + "/") for p in fs.find(storage._root))


def serving_app(storage: Any) -> Flask:
    app = Flask("outputs")
    app.add_url_rule("/o/<job>/<name>", "o", lambda job, name: serve_output(storage, job, name))
    return app


def test_served_with_length_ranges_and_validators(s3):
    storage = s3_storage(s3)
    data = bytes(range(256)) * 40
    key = storage.store("job-3", "image", data, BINARY)
    client = serving_app(storage).test_client()
    served = client.get("/o/" + key)
    assert served.status_code == 200 and served.data == data
    assert served.content_length == len(data) and served.mimetype == BINARY.mime_type
    part = client.get("/o/" + key, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.data == data[10:20]
    assert client.get("/o/" + key, headers={"If-None-Match": served.headers["ETag"]}
                      ).status_code == 304
    assert client.get("/o/job-3/missing.bin").status_code == 404
    xml = storage.store("job-3", "doc", b"<a/>", XML)
    # Active types are downloads, never rendered in wpsd's origin (as for files).
    assert client.get("/o/" + xml).headers["Content-Disposition"].startswith("attachment")


def test_a_large_output_from_a_path_is_never_held_in_memory(s3, tmp_path):
    chunk = 5 * MiB  # the smallest S3 part: the memory bound is a few chunks
    storage = s3_storage(s3, chunk_size=chunk)
    big = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with big.open("wb") as out:
        for _ in range(50):
            block = os.urandom(MiB)
            digest.update(block)
            out.write(block)
    storage.store("warm-up", "x", b"x", TEXT)  # the session and its pools, outside the count
    client = serving_app(storage).test_client()
    tracemalloc.start()
    try:
        key = storage.store("job-4", "big", big, BINARY)
        stored_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        served = client.get("/o/" + key, buffered=False)
        received = hashlib.sha256()
        size = 0
        for piece in served.response:
            received.update(piece)
            size += len(piece)
        served.close()
        served_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert served.content_length == size == 50 * MiB
    assert received.hexdigest() == digest.hexdigest()
    assert stored_peak < 4 * chunk and served_peak < 4 * chunk, (stored_peak, served_peak)


def test_presigned_urls_download_from_the_store(s3):
    storage = s3_storage(s3, url_lifetime=600)
    key = storage.store("job-5", "doc", b"<a/>", XML)
    url = storage.url(key)
    assert url is not None and url.startswith(s3.endpoint + "/")
    with urllib.request.urlopen(url) as response:
        assert response.read() == b"<a/>"
        assert response.headers["Content-Type"] == XML.content_type
    with pytest.raises(urllib.error.HTTPError) as refused:  # the signature is what lets it in
        urllib.request.urlopen(url.split("?")[0])
    refused.value.close()
    assert refused.value.code == 403
    # wpsd's own link sends the client to the store.
    served = serving_app(storage).test_client().get("/o/" + key)
    assert served.status_code == 307
    assert served.headers["Location"].startswith(url.split("?")[0] + "?")


def test_references_are_the_urls_the_storage_gives(s3):
    presigned, plain = s3_storage(s3, url_lifetime=600), s3_storage(s3)
    key = presigned.store("job-7", "doc", b"<a/>", XML)
    selected = [SelectedOutput(ComplexOutput("doc", "Doc", formats=[XML]),
                               OutputRequest("doc", as_reference=True), format=XML)]
    produced = [ProducedOutput("doc", key=key, format=XML)]
    [signed] = output_values(produced, selected, "http://h/wps/outputs/", presigned.url)
    assert signed.href is not None and signed.href.startswith(f"{s3.endpoint}/{s3.bucket}/")
    with urllib.request.urlopen(signed.href) as response:
        assert response.read() == b"<a/>"
    [link] = output_values(produced, selected, "http://h/wps/outputs/", plain.url)
    assert link.href == "http://h/wps/outputs/" + key
    [default] = output_values(produced, selected, "http://h/wps/outputs/")
    assert default.href == link.href


def test_open_storage_follows_the_settings(s3, tmp_path):
    base = Settings(data_dir=tmp_path)
    assert isinstance(open_storage(base), FileStorage)
    assert FileStorage(tmp_path).url("a/b.txt") is None
    chosen = dataclasses.replace(base, output_storage=f"s3://{s3.bucket}/settings",
                                 output_storage_options=json.dumps(s3.options))
    storage = open_storage(chosen)
    assert isinstance(storage, FsspecStorage) and storage.url_lifetime is None
    key = storage.store("job-6", "t", b"hi", TEXT)
    assert storage.url(key) is None
    presigned = open_storage(dataclasses.replace(chosen, output_presigned_urls=True))
    assert isinstance(presigned, FsspecStorage)
    assert presigned.url_lifetime == base.job_retention  # a week, S3's longest
    assert presigned.url(key).startswith(s3.endpoint)
    storage.delete("job-6")


@pytest.mark.parametrize("url", ["s3://", "file:///"])
def test_a_url_that_names_no_bucket_is_refused(url):
    with pytest.raises(ValueError, match="names no bucket"):
        FsspecStorage(url)


def test_presigning_needs_a_filesystem_that_can(tmp_path):
    with pytest.raises(ValueError, match="cannot presign"):
        FsspecStorage(f"file://{tmp_path}", url_lifetime=60)


# ---------------------------------------------------------------- wpsd servers on S3

#: a process whose output is a file it wrote: stored from its path, never read whole
FILE_PROCESSES = '''
from pathlib import Path
from typing import Any

from wpsd import ComplexOutput, ExecutionContext, LiteralInput, process
from wpsd.formats import BINARY


@process("file_of", "A file of so many MiB",
         inputs=[LiteralInput("megabytes", "Size", data_type="integer")],
         outputs=[ComplexOutput("file", "File", formats=[BINARY])])
def file_of(megabytes: int, context: ExecutionContext) -> dict[str, Any]:
    path = context.workdir / "made.bin"
    with path.open("wb") as out:
        for n in range(megabytes):
            out.write(bytes([n % 256]) * (1024 * 1024))
    return {"file": path}
'''


def file_of(megabytes: int) -> bytes:
    return b"".join(bytes([n % 256]) * (1024 * 1024) for n in range(megabytes))


@pytest.fixture(scope="module")
def start_wpsd(s3: S3Server, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Callable[..., tuple[Server, Settings]]]:
    """Starts ``wpsd serve`` (web process, its worker, forked executions) with its outputs in
    a prefix of its own on S3; returns the server and its settings."""
    started = []

    def start(**extra_env: str) -> tuple[Server, Settings]:
        tmp = tmp_path_factory.mktemp("wpsd")
        (tmp / "file_processes.py").write_text(FILE_PROCESSES)
        url = f"s3://{s3.bucket}/{uuid.uuid4().hex}"
        env = {"WPSD_OUTPUT_STORAGE": url,
               "WPSD_OUTPUT_STORAGE_OPTIONS": json.dumps(s3.options), **extra_env}
        port = free_port()
        proc, server = start_server(
            [sys.executable, "-m", "wpsd.cli", "serve", "--host", "127.0.0.1", "--port",
             str(port), "demo", str(tmp / "file_processes.py")], tmp, port, **env)
        started.append(proc)
        return server, Settings(data_dir=tmp, output_storage=url,
                                output_storage_options=json.dumps(s3.options))

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=10)


def reference(document: bytes) -> str:
    root = etree.fromstring(document)
    ref = root.find("wps:ProcessOutputs/wps:Output/wps:Reference", NS)
    assert ref is not None, document[:2000]
    return str(ref.get("href"))


def run_job(server: Server, query: str) -> bytes:
    """Submit a WPS 1.0.0 job and poll its status document until it ends."""
    location = etree.fromstring(requests.get(server.url + "?" + EXEC + query + ASYNC,
                                             timeout=30).content).get("statusLocation")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        document = requests.get(location, timeout=30).content
        if b"ProcessSucceeded" in document or b"ProcessFailed" in document:
            return document
        time.sleep(0.1)
    raise AssertionError("the job did not end")


@pytest.fixture(scope="module")
def wpsd_on_s3(start_wpsd) -> tuple[Server, Settings]:
    return start_wpsd()


def test_outputs_are_written_to_s3_and_served_over_http(wpsd_on_s3):
    server, settings = wpsd_on_s3
    document = requests.get(server.url + "?" + EXEC + "say_hello&DataInputs=name=S3"
                            "&ResponseDocument=response@asReference=true", timeout=30).content
    href = reference(document)
    assert href.startswith(server.url + "/outputs/")
    served = requests.get(href, timeout=30)
    assert served.status_code == 200 and served.content == b"Hello S3"
    assert served.headers["Content-Type"].startswith("text/plain")
    # A job's process (forked by the worker) stores a file it made, from its path.
    href = reference(run_job(server, "file_of&DataInputs=megabytes=12"
                                     "&ResponseDocument=file@asReference=true"))
    with requests.get(href, timeout=30, stream=True) as served:
        assert served.headers["Content-Length"] == str(12 * MiB)
        assert b"".join(served.iter_content(MiB)) == file_of(12)
    stored = open_storage(settings)
    job_id, name = href.rsplit("/", 2)[1:]
    assert stored.open(f"{job_id}/{name}") is not None
    assert not settings.output_path.exists()  # nothing went to the local output folder


def test_retention_removes_expired_outputs_from_s3(wpsd_on_s3):
    server, settings = wpsd_on_s3
    sync = reference(requests.get(server.url + "?" + EXEC + "say_hello&DataInputs=name=old"
                                  "&ResponseDocument=response@asReference=true",
                                  timeout=30).content)
    job = reference(run_job(server, "say_hello&DataInputs=name=job"
                                    "&ResponseDocument=response@asReference=true"))
    assert requests.get(sync, timeout=30).status_code == 200
    assert requests.get(job, timeout=30).status_code == 200
    storage = open_storage(settings)
    store = SQLJobStore(settings.job_database_url)
    try:
        kept = cleanup(settings, store, storage)  # a week's retention: nothing has expired
        assert kept == []
        removed = cleanup(dataclasses.replace(settings, job_retention=0), store, storage)
    finally:
        store.close()
    sync_id, job_id = sync.rsplit("/", 2)[1], job.rsplit("/", 2)[1]
    assert {sync_id, job_id} <= set(removed)
    assert requests.get(sync, timeout=30).status_code == 404
    assert requests.get(job, timeout=30).status_code == 404
    assert storage.folders_older_than(time.time() + 60) == []


def test_presigned_references_download_from_s3(start_wpsd, s3):
    server, _ = start_wpsd(WPSD_OUTPUT_PRESIGNED_URLS="true")
    href = reference(requests.get(server.url + "?" + EXEC + "say_hello&DataInputs=name=direct"
                                  "&ResponseDocument=response@asReference=true",
                                  timeout=30).content)
    # The reference is the store's own presigned URL: the bytes come from S3, not via wpsd.
    assert href.startswith(s3.endpoint + "/")
    served = requests.get(href, timeout=30)
    assert served.status_code == 200 and served.content == b"Hello direct"
    assert served.url.startswith(s3.endpoint + "/") and "Signature" in served.url
    assert served.headers["Content-Type"].startswith("text/plain")
    assert requests.get(served.url.split("?")[0], timeout=30).status_code == 403
