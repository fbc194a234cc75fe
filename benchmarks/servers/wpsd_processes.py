"""The processes bench_servers.py serves with wpsd (the same ones as pywps_processes.py).

Named by path in the generated wpsd TOML (``processes = [".../wpsd_processes.py"]``), so that
gunicorn's workers and wpsd's own worker processes all load them the public way.
"""

from __future__ import annotations

import time
from typing import Any

from wpsd import ExecutionContext, LiteralInput, LiteralOutput, process

#: the progress message a handler reports as its first act (the benchmark looks for it)
STARTED_MESSAGE = "handler started"


@process("say_hello", "Process Say Hello",
         inputs=[LiteralInput("name", "Input name", data_type="string")],
         outputs=[LiteralOutput("response", "Output response", data_type="string")])
def say_hello(name: str) -> dict[str, Any]:
    return {"response": f"Hello {name}"}


@process("sleep", "Sleep",
         inputs=[LiteralInput("seconds", "Seconds to sleep", data_type="float")],
         outputs=[LiteralOutput("slept", "Seconds slept", data_type="float")])
def sleep(seconds: float, context: ExecutionContext) -> dict[str, Any]:
    context.report_progress(1, STARTED_MESSAGE)
    time.sleep(seconds)
    return {"slept": seconds}


processes = [say_hello, sleep]
