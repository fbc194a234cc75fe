"""The ``wpsd`` command: serve processes from your own modules."""

from __future__ import annotations

import dataclasses
import logging
import os

import click

from .config import load_settings
from .web.app import create_app


@click.group()
@click.version_option(package_name="wpsd")
def main() -> None:
    """wpsd: an OGC Web Processing Service server."""


@main.command()
@click.argument("modules", nargs=-1)
@click.option("-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              envvar="WPSD_CONFIG", help="TOML settings file (also WPSD_CONFIG).")
@click.option("--host", default="localhost", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--debug", is_flag=True, help="Flask debug mode: reloader and debugger.")
def serve(modules: tuple[str, ...], config_path: str | None, host: str, port: int,
          debug: bool) -> None:
    """Serve the processes of MODULES (dotted names or .py files) with Flask's server.

    For production, use a WSGI server with the ``wpsd.wsgi:application`` entry point.
    """
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO)
    settings = load_settings(config_path, os.environ)
    if modules:
        settings = dataclasses.replace(settings, processes=settings.processes + modules)
    if not settings.processes:
        raise click.UsageError("name at least one module of processes, or a config file that does")
    try:
        app = create_app(settings)
    except (ImportError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wpsd: http://{host}:{port}/wps?service=WPS&request=GetCapabilities")
    app.run(host=host, port=port, debug=debug, threaded=True)
if __name__ == "__main__":
    main()
