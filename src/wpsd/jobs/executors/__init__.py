"""Executors: where jobs run."""

from .base import Executor as Executor
from .local import LocalExecutor as LocalExecutor
