"""SyncPool: synchronous executions in worker processes, so a crash never takes the server.

Each of ``max_sync_executions`` slots is a single-process pool that stays warm between
requests (the processes' modules are imported once). A free slot is the admission check:
none free means ServerBusy. A handler that crashes breaks only its slot, which is replaced;
one that overruns its time limit has its slot's process group killed, and nothing else.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import wait
from typing import Any

from ..config import Settings, load_settings
from ..exceptions import NoApplicableCode, ServerBusy, WPSError
from ..protocol.requests import Execute
from ..results import OutputValue, SelectedOutput
from ..service import discard_workdirs, select_outputs

logger = logging.getLogger("wpsd")
#: set in every worker process, so that a user module that builds an app when imported
#: does not start a job dispatcher inside a worker
IN_WORKER_VARIABLE = "WPSD_IN_WORKER"
#: a slot's process is replaced after this many executions, to bound what handlers leak
TASKS_PER_PROCESS = 500

def in_worker_process() -> bool:
    """Whether this process runs executions for a server rather than being one."""
    # A spawned pool process imports the parent's __main__ module before its initializer
    # runs; multiprocessing marks that import with ``_inheriting``.
    inheriting = getattr(multiprocessing.current_process(), "_inheriting", False)
    return bool(os.environ.get(IN_WORKER_VARIABLE) or inheriting)


# The service of a pool process, set once by its initializer: module state is the way
# concurrent.futures hands per-process resources to tasks.
_service: Any = None


def _end_with_parent() -> None:
    """End this worker (and what its handler started) when the server process is gone.

    A pool process never sees end-of-file on its task queue when the server dies, because every
    pool process holds that pipe's write end too; the parent's sentinel is what tells.
    """
    parent = multiprocessing.parent_process()
    if parent is not None:
        wait([parent.sentinel])
    os.killpg(os.getpgid(0), signal.SIGKILL)


def _initialize(env: dict[str, str], sources: Sequence[str]) -> None:
    global _service
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
    os.setsid()  # own process group: killing it also ends what the handler started
    threading.Thread(target=_end_with_parent, daemon=True, name="wpsd-parent-watch").start()
    os.environ[IN_WORKER_VARIABLE] = "1"
    from ..processes.registry import ProcessRegistry, load_processes
    from ..service import Service
    from ..storage.filesystem import FileStorage

    settings = load_settings(None, env)
    registry = ProcessRegistry()
    for source in sources:
        for process in load_processes(source):
            if process.identifier not in registry:
                registry.add(process)
    _service = Service(settings, registry, FileStorage(settings.output_dir))


def _execute(process_id: str, request: Execute, job_id: str,
             output_url: str) -> tuple[str, Any]:
    process = _service.registry.get(process_id)
    if process is None:
        return "failed", ("NoApplicableCode", f"Process {process_id!r} is not defined at module "
                          "level of an importable module, so no worker process can run it", None)
    try:
        result = _service.run(process, request, select_outputs(process, request), job_id,
                              output_url)
    except WPSError as exc:
        return "invalid", (exc.code2, exc.text, exc.locator, exc.status)
    except Exception as exc:  # a bug of ours must fail the execution, not the pool
        logger.exception("job %s: could not run", job_id)
        return "failed", ("NoApplicableCode", f"The execution could not run: "
                          f"{type(exc).__name__}: {exc}", None)
    if result.error is not None:
        return "failed", (result.error.code2, result.error.text, result.error.locator)
    # Plain tuples cross the process boundary; declarations stay on each side.
    return "ok", [(v.identifier, v.text, v.data, v.bbox, v.href, v.selected.format)
                  for v in result.outputs]


class SyncPool:
    def __init__(self, settings: Settings, sources: Sequence[str]) -> None:
        self._settings = settings
        self._initargs = (settings.to_environ(), list(sources))
        self._slots: queue.Queue[ProcessPoolExecutor | None] = queue.Queue()
        for _ in range(settings.max_sync_executions):
            self._slots.put(None)  # started on first use

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"),
            initializer=_initialize, initargs=self._initargs,
            max_tasks_per_child=TASKS_PER_PROCESS,
        )

    def run(
        self,
        process_id: str,
        request: Execute,
        selected: Sequence[SelectedOutput],
        job_id: str,
        output_url: str,
        time_limit: float,
    ) -> tuple[list[OutputValue], WPSError | None]:
        """Run one execution in a slot: its outputs, or the error that failed it.

        Problems with the request raise their WPSError, as in-process execution would.
        """
        try:
            pool = self._slots.get_nowait()
        except queue.Empty:
            raise ServerBusy("Too many executions are running; try again later") from None
        pool = pool or self._new_pool()
        try:
            future = pool.submit(_execute, process_id, request, job_id, output_url)
            kind, payload = future.result(timeout=time_limit)
        except FutureTimeout:
            _kill(pool)
            discard_workdirs(self._settings, job_id)
            pool = self._new_pool()
            return [], NoApplicableCode(
                f"The execution ran longer than its time limit of {time_limit:g} s and was "
                "stopped")
        except BrokenProcessPool:
            logger.error("job %s: the worker process died", job_id)
            pool.shutdown(wait=False)
            discard_workdirs(self._settings, job_id)
            pool = self._new_pool()
            return [], NoApplicableCode(
                "The worker process running the execution died (it crashed or was killed)")
        finally:
            self._slots.put(pool)
        if kind == "invalid":
            code, text, locator, status = payload
            error = WPSError.from_code(code, text, locator)
            error.status = status
            raise error
        if kind == "failed":
            return [], WPSError.from_code(*payload)
        by_id = {s.output.identifier: s for s in selected}
        # The handler's value may have chosen another of the output's formats.
        return [OutputValue(dataclasses.replace(by_id[i], format=f), text=t, data=d, bbox=b,
                            href=h)
                for i, t, d, b, h, f in payload], None

    def shutdown(self) -> None:
        while True:
            try:
                pool = self._slots.get_nowait()
            except queue.Empty:
                return
            if pool is not None:
                _kill(pool)


def _kill(pool: ProcessPoolExecutor) -> None:
    # concurrent.futures offers no way to stop a running task before Python 3.14
    # (terminate_workers); its process table is the only handle on the worker.
    for process in list(getattr(pool, "_processes", {}).values()):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    pool.shutdown(wait=False, cancel_futures=True)
