"""The processes bench_servers.py serves with PyWPS (the same ones as wpsd_processes.py).

Imported by the generated WSGI module inside PyWPS's own virtual environment; it must not
import wpsd.
"""

from __future__ import annotations

import time
from typing import Any

from pywps import LiteralInput, LiteralOutput, Process

STARTED_MESSAGE = "handler started"


def _say_hello(request: Any, response: Any) -> Any:
    response.outputs["response"].data = "Hello " + request.inputs["name"][0].data
    return response


def _sleep(request: Any, response: Any) -> Any:
    response.update_status(STARTED_MESSAGE, 1)
    seconds = request.inputs["seconds"][0].data
    time.sleep(seconds)
    response.outputs["slept"].data = seconds
    return response


processes = [
    Process(_say_hello, identifier="say_hello", title="Process Say Hello",
            inputs=[LiteralInput("name", "Input name", data_type="string")],
            outputs=[LiteralOutput("response", "Output response", data_type="string")],
            store_supported=True, status_supported=True),
    Process(_sleep, identifier="sleep", title="Sleep",
            inputs=[LiteralInput("seconds", "Seconds to sleep", data_type="float")],
            outputs=[LiteralOutput("slept", "Seconds slept", data_type="float")],
            store_supported=True, status_supported=True),
]
