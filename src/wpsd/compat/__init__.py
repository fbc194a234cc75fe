"""Adapters that serve processes written for other servers as they are (PyWPS: :mod:`.pywps`)."""
