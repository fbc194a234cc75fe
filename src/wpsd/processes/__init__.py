"""Processes: the definition, the registry and the handler's context."""

from .context import ExecutionContext as ExecutionContext
from .process import Process as Process
from .process import process as process
from .registry import ProcessRegistry as ProcessRegistry
from .registry import load_processes as load_processes
