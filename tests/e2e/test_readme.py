"""The README's first example, exactly as written, served by gunicorn and asked with its curl."""

from __future__ import annotations

import re
import sys

import requests
from e2e_server import ROOT, start_server

from helpers import free_port


def test_readme_example(tmp_path):
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    curl = re.search(r'\$ curl "(http://localhost:5000/wps\?[^"]+)"\n(.+)\n', readme)
    (tmp_path / "example.py").write_text(example)
    port = free_port()
    proc, _ = start_server([sys.executable, "-m", "gunicorn", "--chdir", str(tmp_path),
                            "--bind", f"127.0.0.1:{port}", "example:app"], tmp_path, port)
    try:
        url = curl.group(1).replace("localhost:5000", f"127.0.0.1:{port}")
        response = requests.get(url, timeout=30)
        assert response.status_code == 200
        assert response.text == curl.group(2).strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
