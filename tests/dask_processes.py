"""Processes for the tests (and benchmark) of jobs on a Dask cluster."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from wpsd import LiteralInput, LiteralOutput, process


@process(
    "attempts",
    "Hangs on its first attempt, succeeds on the next",
    inputs=[LiteralInput("marker", "File that counts the attempts")],
    outputs=[LiteralOutput("attempts", "Attempts so far", data_type="integer")],
    idempotent=True,
)
def attempts(marker: str) -> dict[str, Any]:
    path = Path(marker)
    with path.open("a") as fh:
        fh.write(f"{os.getpid()}\n")
    count = len(path.read_text().split())
    if count == 1:
        time.sleep(120)  # long enough for the test to kill this attempt's worker
    return {"attempts": count}


@process(
    "spin",
    "Pure-Python work for a while",
    inputs=[LiteralInput("seconds", "CPU seconds to spend", data_type="double",
                         min_occurs=0, default=0.2)],
    outputs=[LiteralOutput("loops", "Loops done", data_type="integer")],
)
def spin(seconds: float = 0.2) -> dict[str, Any]:
    end, loops = time.process_time() + seconds, 0
    while time.process_time() < end:
        for _ in range(1000):
            loops += 1
    return {"loops": loops}


processes = [attempts, spin]
