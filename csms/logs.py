"""Process logging: plain text for a terminal, or one JSON object per line for a log collector.

JSON lines carry the node id and, where the code runs on behalf of a station or a site, its id:
the OCPP session sets `station_id` and each site's control loop sets `site_id` in context
variables, so every record logged inside them is tagged without passing ids around. A leaf
module (it imports nothing of csms): any layer may import it.
"""

from __future__ import annotations

import contextvars
import logging
import socket
from datetime import UTC, datetime
from typing import Literal

import orjson

LogFormat = Literal["text", "json"]

station_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "csms_station_id", default=None
)
"""The station a task works for (set by the OCPP session that serves it)."""

site_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "csms_site_id", default=None
)
"""The site a task works for (set by the site's control loop)."""

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, node_id, station_id, site_id.

    `station_id` / `site_id` come from the record (`extra={"station_id": …}`) or else from the
    context variables above; they are left out when neither is set. A traceback goes in `exc`.
    """

    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "node_id": self.node_id,
        }
        station = getattr(record, "station_id", None) or station_id_var.get()
        site = getattr(record, "site_id", None) or site_id_var.get()
        if station:
            entry["station_id"] = station
        if site:
            entry["site_id"] = site
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def default_node_id() -> str:
    """The host's name: unique per container or machine, stable across restarts."""
    return socket.gethostname() or "csms"


def configure_logging(level: str, log_format: LogFormat, node_id: str | None = None) -> None:
    """Send the root logger's records to stderr in the chosen format (replacing handlers)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter(node_id or default_node_id()))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
