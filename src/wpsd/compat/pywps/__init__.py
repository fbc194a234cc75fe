"""PyWPS processes served unchanged.

A module whose ``processes`` list holds PyWPS ``Process`` instances is served as it is:
:func:`~wpsd.processes.load_processes` finds them and :func:`from_pywps` turns each into a
:class:`wpsd.Process` (``declarations``) whose handler calls the PyWPS one with the
``(request, response)`` pair it expects and collects what it left in ``response.outputs``
(``runtime``). ``config`` reads the keys of a ``pywps.cfg`` that have a wpsd meaning.

PyWPS is imported only by ``declarations`` and ``runtime``, which are imported only once a
PyWPS process was found (the module that defines it imported PyWPS already); ``config``
needs no PyWPS at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import PyWPSConfig as PyWPSConfig
from .config import read_pywps_config as read_pywps_config

if TYPE_CHECKING:
    from ...processes.process import Process


def from_pywps(process: Any, module: str | None = None) -> Process:
    """A PyWPS ``Process`` as a wpsd :class:`~wpsd.Process` that runs its handler.

    ``module`` is the module a worker imports to find the process again (the one whose
    ``processes`` list holds it); by default the module that defines its handler or class.
    """
    from .declarations import from_pywps as convert

    return convert(process, module)
