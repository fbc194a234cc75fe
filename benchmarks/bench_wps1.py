"""WPS 1.0.0 request throughput and memory: wpsd side by side with PyWPS (the peer).

    python benchmarks/bench_wps1.py [--rounds 5] [--requests 200]

Each server runs in its own Python process (so their memory is measured apart) and is driven
in-process through its WSGI interface with Werkzeug's test client: no sockets, so the figures
are the servers' own work. Both serve the same processes: say_hello and a JSON character count.
Prints milliseconds per request (best round) and the ratio PyWPS / wpsd (above 1: wpsd faster),
and peak memory of the server process and of its largest worker process.
The status-document row has no PyWPS figure: PyWPS writes status files for a separate static
web server to serve, which is not work its WSGI application does.
Needs `pip install pywps` beside wpsd.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from wpsd import (
    ComplexInput,
    ComplexValue,
    LiteralInput,
    LiteralOutput,
    Settings,
    create_app,
    process,
)
from wpsd.formats import JSON

DOC = json.dumps({"values": list(range(20000))})  # about 110 KB of JSON

EXECUTE_XML = """<?xml version="1.0" encoding="UTF-8"?>
<wps:Execute service="WPS" version="1.0.0" xmlns:wps="http://www.opengis.net/wps/1.0.0"
  xmlns:ows="http://www.opengis.net/ows/1.1">
  <ows:Identifier>{ident}</ows:Identifier>
  <wps:DataInputs><wps:Input><ows:Identifier>{input}</ows:Identifier>
    <wps:Data>{data}</wps:Data></wps:Input></wps:DataInputs>
  <wps:ResponseForm><wps:ResponseDocument>
    <wps:Output><ows:Identifier>{output}</ows:Identifier></wps:Output>
  </wps:ResponseDocument></wps:ResponseForm>
</wps:Execute>"""

OPERATIONS: list[tuple[str, str, str | None]] = [
    ("GetCapabilities", "service=WPS&request=GetCapabilities", None),
    ("DescribeProcess", "service=WPS&version=1.0.0&request=DescribeProcess&identifier=say_hello",
     None),
    ("Execute KVP say_hello",
     "service=WPS&version=1.0.0&request=Execute&identifier=say_hello&DataInputs=name=Bench", None),
    ("Execute POST say_hello", "", EXECUTE_XML.format(
        ident="say_hello", input="name", output="response",
        data="<wps:LiteralData>Bench</wps:LiteralData>")),
    ("Execute POST 110 KB JSON", "", EXECUTE_XML.format(
        ident="chars", input="doc", output="count",
        data=f'<wps:ComplexData mimeType="application/json"><![CDATA[{DOC}]]></wps:ComplexData>')),
]


@process("say_hello", "Process Say Hello",
         inputs=[LiteralInput("name", "Input name")],
         outputs=[LiteralOutput("response", "Output response")])
def say_hello(name: str) -> dict[str, Any]:
    return {"response": f"Hello {name}"}


@process("chars", "Characters", inputs=[ComplexInput("doc", "Doc", formats=[JSON])],
         outputs=[LiteralOutput("count", "Count", data_type="integer")])
def chars(doc: ComplexValue) -> dict[str, Any]:
    return {"count": len(doc.text)}


# Module level, not inside wpsd_app: the worker process of an asynchronous job imports the
# module again to find the handlers.
processes = [say_hello, chars]


def wpsd_app(tmp: Path) -> Any:
    settings = Settings(workdir=tmp / "work", output_dir=tmp / "out")
    return create_app(settings, processes=processes)


def pywps_app(tmp: Path) -> Any:
    from pywps import FORMATS, ComplexInput, LiteralInput, LiteralOutput, Process, Service

    def hello_handler(request: Any, response: Any) -> Any:
        response.outputs["response"].data = "Hello " + request.inputs["name"][0].data
        return response

    def chars_handler(request: Any, response: Any) -> Any:
        response.outputs["count"].data = len(request.inputs["doc"][0].data)
        return response

    hello = Process(hello_handler, identifier="say_hello", title="Process Say Hello",
                    inputs=[LiteralInput("name", "Input name", data_type="string")],
                    outputs=[LiteralOutput("response", "Output response", data_type="string")])
    chars = Process(chars_handler, identifier="chars", title="Characters",
                    inputs=[ComplexInput("doc", "Doc", supported_formats=[FORMATS.JSON])],
                    outputs=[LiteralOutput("count", "Count", data_type="integer")])
    config = tmp / "pywps.cfg"
    config.write_text(
        "[server]\n"
        f"outputpath = {tmp / 'out'}\nworkdir = {tmp / 'work'}\n"
        "maxsingleinputsize = 64mb\nmaxrequestsize = 64mb\n"
        "[logging]\nlevel = ERROR\ndatabase = sqlite:///:memory:\n"
    )
    (tmp / "out").mkdir()
    (tmp / "work").mkdir()
    return Service([hello, chars], [str(config)])


def run_side(side: str, rounds: int, requests: int) -> dict[str, Any]:
    from werkzeug.test import Client

    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{side}-"))
    app = wpsd_app(tmp) if side == "wpsd" else pywps_app(tmp)
    client = Client(app)
    rss_ready = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results = {}
    for name, query, body in OPERATIONS:
        def once(name: str = name, query: str = query, body: str | None = body) -> None:
            if body is None:
                response = client.get("/wps?" + query)
            else:
                response = client.post("/wps", data=body, content_type="text/xml")
            if response.status_code != 200 or b"Exception" in response.data:
                raise RuntimeError(f"{side} {name}: {response.status_code} {response.data[:300]!r}")

        count = max(requests // 10, 10) if "110 KB" in name else requests
        once()  # warm caches and imports
        best = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(count):
                once()
            best = min(best, (time.perf_counter() - start) / count)
        results[name] = best * 1000
    if side == "wpsd":
        results["status document (wpsd only)"] = _status_poll(client, app, rounds, requests)
        results.update(_other_protocols(client, rounds, requests))
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if side == "wpsd":
        app.extensions["wpsd"].close()  # ends the worker processes, so their peak is counted
        time.sleep(0.5)
    rss_worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"ms": results, "rss_ready_mb": rss_ready / 1024, "rss_peak_mb": rss_peak / 1024,
            "rss_worker_mb": rss_worker / 1024}


def _status_poll(client: Any, app: Any, rounds: int, requests: int) -> float:
    """GET of a finished job's status document: one store read and one XML document."""
    from lxml import etree

    query = ("service=WPS&version=1.0.0&request=Execute&identifier=say_hello"
             "&DataInputs=name=Bench&storeExecuteResponse=true&status=true")
    location = etree.fromstring(client.get("/wps?" + query).data).get("statusLocation")
    path = "/wps/jobs/" + location.rsplit("/", 1)[1]
    deadline = time.monotonic() + 60
    while b"ProcessSucceeded" not in client.get(path).data:
        if time.monotonic() > deadline:
            raise RuntimeError("the benchmark job did not finish")
        time.sleep(0.05)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(requests):
            client.get(path)
        best = min(best, (time.perf_counter() - start) / requests)
    return best * 1000


def _other_protocols(client: Any, rounds: int, requests: int) -> dict[str, float]:
    """WPS 2.0.0 and OGC API - Processes, which PyWPS does not offer."""
    requests_ = {
        "WPS 2.0 DescribeProcess (wpsd only)": lambda: client.get(
            "/wps?service=WPS&version=2.0.0&request=DescribeProcess&identifier=say_hello"),
        "OGC API process (wpsd only)": lambda: client.get("/processes/say_hello"),
        "OGC API execute (wpsd only)": lambda: client.post(
            "/processes/say_hello/execution", json={"inputs": {"name": "Bench"}}),
    }
    figures = {}
    for name, call in requests_.items():
        call()
        best = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(requests):
                response = call()
                assert response.status_code == 200, response.data
            best = min(best, (time.perf_counter() - start) / requests)
        figures[name] = best * 1000
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--side", choices=["wpsd", "pywps"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(run_side(args.side, args.rounds, args.requests)))
        return
    sides = {}
    for side in ("wpsd", "pywps"):
        out = subprocess.run(
            [sys.executable, __file__, "--side", side, "--rounds", str(args.rounds),
             "--requests", str(args.requests)],
            check=True, capture_output=True, text=True,
        ).stdout
        sides[side] = json.loads(out.strip().splitlines()[-1])
    import pywps

    print(f"wpsd vs PyWPS {pywps.__version__}: best of {args.rounds} rounds, "
          f"{args.requests} requests a round (110 KB case: a tenth)")
    print(f"{'operation':36} {'wpsd ms':>9} {'PyWPS ms':>9} {'PyWPS/wpsd':>11}")
    for name, ours in sides["wpsd"]["ms"].items():
        peer = sides["pywps"]["ms"].get(name)
        if peer is None:
            print(f"{name:36} {ours:9.3f} {'-':>9} {'-':>11}")
        else:
            print(f"{name:36} {ours:9.3f} {peer:9.3f} {peer / ours:10.1f}x")
    for key, label in (("rss_ready_mb", "server RSS after start, MB"),
                       ("rss_peak_mb", "server peak RSS, MB"),
                       ("rss_worker_mb", "largest worker peak RSS, MB")):
        ours, peer = sides["wpsd"][key], sides["pywps"][key]
        ratio = f"{peer / ours:10.2f}x" if ours and peer else f"{'-':>11}"
        print(f"{label:36} {ours:9.1f} {peer:9.1f} {ratio}")
    print("wpsd runs every execution in worker processes (a crash fails only that execution);"
          "\nPyWPS runs synchronous executions inside the server process.")


if __name__ == "__main__":
    main()
