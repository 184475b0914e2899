"""The ``dubengine`` command line. Thin: each command calls the library and maps its errors
to exit codes (``common``). One module per group of commands; importing them registers them
on ``app``."""

from . import dub, inspect, jobs, serve, studio  # noqa: F401  (registers the commands)
from .common import EXIT_BAD_INPUT, EXIT_FAILED, app, exit_code
from .serve import RedactSignatures

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "RedactSignatures", "app", "exit_code", "main"]


def main() -> None:
    app()
