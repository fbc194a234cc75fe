"""The keys of a pywps.cfg that have a wpsd meaning (wpsd.compat.pywps.config)."""

from __future__ import annotations

import json

import pytest

from wpsd.compat.pywps import read_pywps_config
from wpsd.compat.pywps.config import megabytes

# As the PyWPS documentation's example configuration has it.
CONFIG = """\
[metadata:main]
identification_title = My WPS
identification_abstract = Processes of the institute
identification_keywords = WPS,GRASS,PyWPS, Demo
identification_keywords_type = theme
identification_fees = NONE
identification_accessconstraints = NONE
provider_name = The Institute
provider_url = https://institute.example/
contact_name = Lastname, Firstname
contact_position = Position Title
contact_email = wps@institute.example

[server]
url = http://localhost:5000/wps
maxsingleinputsize = 200mb
maxrequestsize = 3mb
outputurl = http://localhost:5000/outputs
outputpath = ${OUTPUTS}
workdir = %(WPS_WORK)s
parallelprocesses = 2
maxprocesses = -1
language = en-US,fr-CA
cleantempdir = true
allowedinputpaths = /data

[processing]
mode = default

[logging]
level = INFO
file = logs/pywps.log
database = postgresql://wps:secret@db/wps
format = %%(asctime)s] [%%(levelname)s] %%(message)s

[grass]
gisbase = /usr/local/grass
"""


def test_the_keys_with_a_wpsd_meaning(tmp_path, monkeypatch):
    monkeypatch.setenv("OUTPUTS", "/srv/wps/outputs")
    monkeypatch.setenv("WPS_WORK", "/srv/wps/work")
    path = tmp_path / "pywps.cfg"
    path.write_text(CONFIG)
    found = read_pywps_config(path)
    assert found.settings == {
        "url": "http://localhost:5000/wps",
        "max_input_megabytes": 200.0,
        "max_request_bytes": 3 * 1024 * 1024,
        # wpsd appends each output's key to it
        "output_url": "http://localhost:5000/outputs/",
        "output_dir": "/srv/wps/outputs",
        "workdir": "/srv/wps/work",
        "max_parallel_jobs": 2,
        "languages": "en-US,fr-CA",
        # SQLAlchemy's postgresql:// is psycopg2; wpsd uses psycopg 3
        "database_url": "postgresql+psycopg://wps:secret@db/wps",
    }
    assert found.metadata == {
        "title": "My WPS", "abstract": "Processes of the institute",
        "keywords": "WPS,GRASS,PyWPS, Demo", "fees": "NONE", "access_constraints": "NONE",
        "provider_name": "The Institute", "provider_site": "https://institute.example/",
        "contact_name": "Lastname, Firstname", "contact_email": "wps@institute.example"}
    assert found.ignored == [
        "metadata:main.identification_keywords_type", "metadata:main.contact_position",
        "server.maxprocesses", "server.cleantempdir", "server.allowedinputpaths",
        "processing.mode", "logging.level", "logging.file", "logging.format",
        "grass.gisbase"]


def test_pywps_defaults_do_not_count(tmp_path):
    path = tmp_path / "pywps.cfg"
    path.write_text("[server]\noutputurl = file:///tmp\n[logging]\n"
                    "database = sqlite:///:memory:\n")
    found = read_pywps_config(path)
    assert found.settings == {} and found.metadata == {}
    assert found.ignored == ["server.outputurl", "logging.database"]


def test_s3_storage(tmp_path):
    path = tmp_path / "pywps.cfg"
    path.write_text("[server]\nstoragetype = s3\n[s3]\nbucket = outputs\nprefix = /wps/\n"
                    "region = eu-west-1\npublic = true\n")
    found = read_pywps_config(path)
    assert found.settings == {
        "output_storage": "s3://outputs/wps",
        "output_storage_options": json.dumps({"client_kwargs": {"region_name": "eu-west-1"}})}
    assert found.ignored == ["s3.public"]


@pytest.mark.parametrize(("text", "value"), [
    ("3mb", 3.0), ("1gb", 1024.0), ("512kb", 0.5), ("1048576b", 1.0), ("2", 2.0),
    ("1.5 MB", 1.5), ("1g", 1024.0)])
def test_sizes(text, value):
    assert megabytes(text) == value


def test_unusable_files_and_values(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        read_pywps_config(tmp_path / "missing.cfg")
    path = tmp_path / "pywps.cfg"
    path.write_text("[server]\nmaxsingleinputsize = lots\n")
    with pytest.raises(ValueError, match="server.maxsingleinputsize"):
        read_pywps_config(path)
