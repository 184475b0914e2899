"""``python -m dubengine``: the command line."""

from .cli import main

main()
