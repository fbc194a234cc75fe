"""ProcessRegistry: the processes a server offers, and loading them from user modules."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType

from .process import Process


class ProcessRegistry:
    """An ordered set of processes, looked up by identifier."""

    def __init__(self, processes: Iterable[Process] = ()) -> None:
        self._processes: dict[str, Process] = {}
        for p in processes:
            self.add(p)

    def add(self, process: Process) -> None:
        if process.identifier in self._processes:
            raise ValueError(f"a process named {process.identifier!r} is already registered")
        self._processes[process.identifier] = process

    def get(self, identifier: str) -> Process | None:
        return self._processes.get(identifier)

    def __contains__(self, identifier: object) -> bool:
        return identifier in self._processes

    def __iter__(self) -> Iterator[Process]:
        return iter(self._processes.values())

    def __len__(self) -> int:
        return len(self._processes)

    def sources(self) -> list[str]:
        """The modules (names or file paths) that define these processes, for a worker process
        to import them again."""
        return list(dict.fromkeys(process_source(p) for p in self))


def process_source(process: Process) -> str:
    """Where a process's handler is defined: a module name, or a file for scripts."""
    name = process.handler.__module__
    module = sys.modules.get(name)
    if (name == "__main__" or name.startswith("_wpsd_user_")) and module is not None:
        return str(Path(module.__file__ or name).resolve())
    return name


def load_processes(target: str) -> list[Process]:
    """The processes a module offers: its ``processes`` list, or else every Process it defines.

    ``target`` is a dotted module name (``my_package.processes``) or a path to a ``.py`` file.
    PyWPS ``Process`` instances among them are served as they are (see
    :mod:`wpsd.compat.pywps`).
    """
    module = _import(target)
    declared = getattr(module, "processes", None)
    if declared is not None:
        found = list(declared)
    else:
        found = [v for v in vars(module).values() if isinstance(v, Process) or is_pywps(v)]
    if any(is_pywps(p) for p in found):
        # Imported only now: PyWPS is an optional extra, and the module imported it already.
        from ..compat.pywps import from_pywps

        found = [from_pywps(p, module.__name__) if is_pywps(p) else p for p in found]
    if not found or not all(isinstance(p, Process) for p in found):
        raise ValueError(f"{target!r} defines no wpsd processes")
    return found


def is_pywps(value: object) -> bool:
    """Whether ``value`` is a PyWPS process (``pywps.Process`` or a subclass), found without
    importing PyWPS."""
    return any(cls.__module__.split(".")[0] == "pywps" and cls.__name__ == "Process"
               for cls in type(value).__mro__)


def _import(target: str) -> ModuleType:
    path = Path(target)
    if path.suffix == ".py":
        if not path.is_file():
            raise ValueError(f"no such file: {target}")
        name = f"_wpsd_user_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ValueError(f"cannot import {target}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    # Modules next to where the user runs the server are importable, as with `python -m`.
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    return importlib.import_module(target)
