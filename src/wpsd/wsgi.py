"""WSGI entry point for gunicorn, waitress, mod_wsgi: ``wpsd.wsgi:application``.

Settings come from the TOML file named by ``WPSD_CONFIG`` and ``WPSD_*`` variables; this
module is meant to be imported by a WSGI server only, never by library code. It refuses to
start a server of no processes (no ``processes`` setting): such a server could only answer
that it has nothing to offer, which is always a configuration mistake.
"""

from __future__ import annotations

import os

from .config import load_settings
from .logs import configure_logging
from .web.app import create_app

configure_logging()
_settings = load_settings(os.environ.get("WPSD_CONFIG"), os.environ)
configure_logging(_settings.log_format)
if not _settings.processes:
    raise RuntimeError(
        "wpsd.wsgi: no processes to serve. Name the modules of your processes in the "
        "`processes` setting: WPSD_PROCESSES=mymodule, or a TOML file named by WPSD_CONFIG "
        "with processes = [\"mymodule\"]")
application = create_app(_settings)
