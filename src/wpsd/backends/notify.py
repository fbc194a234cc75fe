"""Choosing how web nodes wake workers, from the settings."""

from __future__ import annotations

from ..config import Settings
from ..ports import Notifier


def notifier_for(settings: Settings, local: Notifier) -> Notifier:
    """The notifier of a web node: ``local`` (this host's workers)."""
    return local
