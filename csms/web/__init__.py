"""The web console: server-rendered pages over the API's read models (see docs/console.md)."""

from csms.web.console import Console

__all__ = ["Console"]
