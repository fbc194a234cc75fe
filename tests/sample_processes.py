"""Processes that exercise the corners of the process model in tests."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from wpsd import (
    AllowedValues,
    ComplexInput,
    ComplexOutput,
    ComplexValue,
    ExecutionContext,
    LiteralInput,
    LiteralOutput,
    Range,
    RangeClosure,
    process,
)
from wpsd.formats import JSON, PNG, TEXT, XML

_TYPES = {"i": "integer", "f": "double", "b": "boolean", "d": "date", "dt": "dateTime",
          "t": "time", "u": "anyURI", "dec": "decimal", "s": "string", "pos": "positiveInteger"}


@process(
    "literal_types",
    "Literal types",
    inputs=[LiteralInput(k, k, data_type=v, min_occurs=0) for k, v in _TYPES.items()],
    outputs=[LiteralOutput("types", "Python types and values")],
)
def literal_types(**values: Any) -> dict[str, Any]:
    given = {k: v for k, v in values.items() if v is not None}
    return {"types": ";".join(f"{k}={type(v).__name__}:{v!r}" for k, v in sorted(given.items()))}


@process(
    "multi",
    "Sum of repeated inputs",
    inputs=[LiteralInput("n", "Numbers", data_type="integer", min_occurs=2, max_occurs=4)],
    outputs=[LiteralOutput("sum", "Sum", data_type="integer")],
)
def multi(n: list[int]) -> dict[str, Any]:
    return {"sum": sum(n)}


@process(
    "allowed",
    "Allowed values",
    inputs=[
        LiteralInput("color", "Colour", allowed_values=["red", "green"]),
        LiteralInput(
            "level", "Level", data_type="integer", min_occurs=0, default=2,
            allowed_values=AllowedValues(
                ranges=[Range(0, 10, spacing=2, closure=RangeClosure.CLOSED_OPEN)]
            ),
        ),
    ],
    outputs=[LiteralOutput("out", "Out")],
)
def allowed(color: str, level: int) -> dict[str, Any]:
    return {"out": f"{color}:{level}"}


@process(
    "length",
    "Units of measure",
    inputs=[LiteralInput("length", "Length", data_type="double", uoms=["metre", "foot"])],
    outputs=[LiteralOutput("metres", "Length in metres", data_type="double",
                           uoms=["metre", "kilometre"])],
)
def length(length: float, context: ExecutionContext) -> dict[str, Any]:
    factor = 0.3048 if context.input_uoms["length"] == "foot" else 1.0
    return {"metres": length * factor}


@process("fail", "Always fails", outputs=[LiteralOutput("never", "Never")])
def fail(context: ExecutionContext) -> dict[str, Any]:
    # What a handler logs before it fails is for its user (the job's log); what it raises
    # is for the operator.
    context.logger.warning("giving up: the input cannot be read")
    raise ValueError("the process broke on purpose")


@process("bad_return", "Returns a list", outputs=[LiteralOutput("out", "Out")])
def bad_return() -> Any:
    return ["not", "a", "dict"]


@process(
    "xml_echo",
    "Echo XML",
    inputs=[ComplexInput("doc", "Document", formats=[XML], max_megabytes=0.001)],
    outputs=[ComplexOutput("doc", "Document", formats=[XML])],
)
def xml_echo(doc: ComplexValue) -> dict[str, Any]:
    return {"doc": doc.data}


@process(
    "binary_echo",
    "Echo binary",
    inputs=[ComplexInput("image", "Image", formats=[PNG])],
    outputs=[ComplexOutput("image", "Image", formats=[PNG])],
)
def binary_echo(image: ComplexValue) -> dict[str, Any]:
    return {"image": image.path}


@process(
    "text_stats",
    "Text statistics",
    inputs=[ComplexInput("text", "Text", formats=[TEXT, JSON], max_occurs=3)],
    outputs=[
        ComplexOutput("stats", "Statistics", formats=[JSON]),
        LiteralOutput("chars", "Characters", data_type="integer"),
    ],
)
def text_stats(text: list[ComplexValue]) -> dict[str, Any]:
    contents = [t.path.read_text() for t in text]
    return {
        "stats": {"documents": len(contents), "hrefs": [t.href for t in text]},
        "chars": sum(len(c) for c in contents),
    }


@process("sync_only", "Synchronous only", asynchronous=False,
         outputs=[LiteralOutput("out", "Out")])
def sync_only() -> dict[str, Any]:
    return {"out": "done"}


@process("crash", "Crashes its interpreter", outputs=[LiteralOutput("never", "Never")])
def crash() -> dict[str, Any]:
    os.kill(os.getpid(), signal.SIGSEGV)
    return {"never": "reached"}


@process(
    "forever",
    "Runs until stopped, with a helper process",
    inputs=[LiteralInput("pidfile", "File to write the helper's pid to")],
    outputs=[LiteralOutput("never", "Never")],
)
def forever(pidfile: str, context: ExecutionContext) -> dict[str, Any]:
    helper = subprocess.Popen(["sleep", "300"])
    Path(pidfile).write_text(f"{os.getpid()} {helper.pid}")
    (context.workdir / "scratch.txt").write_text("work in progress")
    for step in range(3000):
        context.report_progress(min(step, 90), f"step {step}")
        time.sleep(0.1)
    return {"never": "reached"}


@process("limited", "Exceeds its time limit", time_limit=1.0,
         outputs=[LiteralOutput("never", "Never")])
def limited() -> dict[str, Any]:
    time.sleep(60)
    return {"never": "reached"}


processes = [literal_types, multi, allowed, length, fail, bad_return, xml_echo, binary_echo,
             text_stats, sync_only, crash, forever, limited]


@process("pids", "Where it runs", outputs=[LiteralOutput("pids", "Process id and parent id")])
def pids() -> dict[str, Any]:
    return {"pids": f"{os.getpid()} {os.getppid()}"}


processes.append(pids)
