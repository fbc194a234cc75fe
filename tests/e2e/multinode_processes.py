"""The process of the multi-node tests: it records that (and where) it ran, then waits."""

from __future__ import annotations

import os
import time
from typing import Any

from wpsd import ExecutionContext, LiteralInput, LiteralOutput, process


@process(
    "record",
    "Record a run",
    abstract="Appends the job's id and process id to a file, then sleeps",
    inputs=[LiteralInput("log", "File to append to", data_type="string"),
            LiteralInput("delay", "Seconds to sleep after recording", data_type="float",
                         default=0.0, min_occurs=0)],
    outputs=[LiteralOutput("job", "The id of the job that ran", data_type="string")],
)
def record(log: str, delay: float, context: ExecutionContext) -> dict[str, Any]:
    # One write of one line with O_APPEND: the lines of concurrent jobs never interleave.
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{context.job_id} {os.getpid()}\n".encode())
    finally:
        os.close(fd)
    time.sleep(delay)
    return {"job": context.job_id}
