"""Log records as hclog JSON lines on stderr, the format go-plugin hosts parse.

The host reads each stderr line as JSON and needs `@level`, `@message` and
`@timestamp` as strings, the timestamp with exactly six fractional digits
(Go layout 2006-01-02T15:04:05.000000Z07:00). Other keys become key=value pairs
in the host's log. Anything else lands in the host log at DEBUG, unparsed.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import TextIO

__all__ = ["HclogJSONFormatter", "configure", "hclog_level", "hclog_timestamp", "level_from_env"]

# hclog accepts trace/debug/info/warn/error; "warning" would be dropped to debug.
_LEVELS = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    logging.CRITICAL: "error",
}


def hclog_level(levelno: int) -> str:
    if levelno < logging.DEBUG:
        return "trace"
    for threshold in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if levelno >= threshold:
            return _LEVELS[threshold]
    return "debug"


def hclog_timestamp(created: float) -> str:
    return datetime.fromtimestamp(created, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


class HclogJSONFormatter(logging.Formatter):
    """One JSON object per line; extra fields go in `record.fields` (a dict)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "@level": hclog_level(record.levelno),
            "@message": record.getMessage(),
            "@module": record.name,
            "@timestamp": hclog_timestamp(record.created),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                if not key.startswith("@"):
                    entry[str(key)] = value if isinstance(value, (str, int, float, bool)) else str(value)
        if record.exc_info and record.levelno >= logging.DEBUG:
            # The exception's type and message only: tracebacks are multi-line and can carry secrets.
            exc = record.exc_info[1]
            entry["error"] = f"{type(exc).__name__}: {exc}"
        return json.dumps(entry, ensure_ascii=False)


def level_from_env(env: dict[str, str]) -> int:
    """YAMLDB_LOG_LEVEL (trace/debug/info/warn/error), set at registration; info by default, because
    per-operation lines cost CPU on every request and the host drops what is below its own level."""
    name = env.get("YAMLDB_LOG_LEVEL", "info").strip().lower()
    return {
        "trace": 5,
        "debug": logging.DEBUG,
        "info": logging.INFO,
        "warn": logging.WARNING,
        "warning": logging.WARNING,
        "error": logging.ERROR,
    }.get(name, logging.INFO)


def configure(level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Send every yamldb log record to stderr as hclog JSON (once per process)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(HclogJSONFormatter())
    root = logging.getLogger("yamldb")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
