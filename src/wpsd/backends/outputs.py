"""Choosing the output storage of a deployment from its settings."""

from __future__ import annotations

from ..config import Settings
from ..ports import OutputStorage
from .filesystem import FileStorage


def open_storage(settings: Settings) -> OutputStorage:
    """The output storage the settings name: a directory (the default)."""
    return FileStorage(settings.output_path)
