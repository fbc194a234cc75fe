"""The WSGI layer: Flask views over the service."""

from .app import create_app as create_app
