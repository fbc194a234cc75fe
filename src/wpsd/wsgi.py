"""WSGI entry point for gunicorn, waitress, mod_wsgi: ``wpsd.wsgi:application``.

Settings come from the TOML file named by ``WPSD_CONFIG`` and ``WPSD_*`` variables; this
module is meant to be imported by a WSGI server only, never by library code.
"""

from __future__ import annotations

import logging
import os

from .config import load_settings
from .web.app import create_app

logging.basicConfig(level=logging.INFO)
application = create_app(load_settings(os.environ.get("WPSD_CONFIG"), os.environ))
