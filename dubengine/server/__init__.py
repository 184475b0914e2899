"""The self-hosted server: routes (``app``), bodies (``schemas``), tokens, rate limits and
presigned URLs (``security``), uploads (``uploads``)."""

from .app import create_app
from .security import ServerSettings, server_hooks, tokens_from

__all__ = ["ServerSettings", "create_app", "server_hooks", "tokens_from"]
