"""How brug logs: readable lines in a terminal (plain ones, unwrapped, into a file or pipe), or one JSON
object per line (`BRUG_LOG_FORMAT=json`).

A JSON line has `time` (UTC, ISO 8601), `level`, `logger` and `message`, and the structured fields
an important log site passes with `extra=fields(...)`: `partnership`, `platform`, `kind`, `key`,
`outcome` (and `status`, `seconds` where they apply). A traceback goes in `exception`.

Whatever the format, nothing secret leaves: every secret brug reads (tokens, app passwords, the link
signing key, the SMTP password, a password in a database URL) is registered here when it is read and
replaced by `***` in every line, and so are the tokens of personal answer and sign-in links
(`/a/<token>`, `/login/<token>`), `access_token=` query parameters and `Bearer` headers. What people
write (answers, chat messages) is never passed to a log call; `tests/test_operations.py` runs real
flows with JSON logs and checks both.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

FIELDS = ("partnership", "platform", "kind", "key", "outcome", "status", "seconds")
_secrets: set[str] = set()
_PATTERNS = [
    (re.compile(r"(/(?:a|login)/)[A-Za-z0-9._~+=-]{16,}"), r"\1***"),
    (re.compile(r"(access_token=)[^&\s\"']+"), r"\1***"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), r"\1***@"),
]


def register_secret(value: str | None) -> None:
    """Never show this value in a log line (secrets shorter than 6 characters would mask ordinary words)."""
    if value and len(value) >= 6:
        _secrets.add(value)


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def fields(
    partnership: str | None = None,
    platform: str | None = None,
    kind: str | None = None,
    key: str | None = None,
    outcome: str | None = None,
    **more: Any,
) -> dict[str, Any]:
    """`extra=` for a log call: the structured fields a JSON line carries (None ones left out)."""
    given = dict(partnership=partnership, platform=platform, kind=kind, key=key, outcome=outcome, **more)
    return {k: v for k, v in given.items() if v is not None}


class Redacting(logging.Filter):
    """Takes secrets out of a record's message before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value if isinstance(value, int | float | bool) else redact(str(value))
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def json_wanted() -> bool:
    return os.environ.get("BRUG_LOG_FORMAT", "").strip().lower() == "json"


def configure(verbose: int, console: Any) -> None:
    """Set up logging for a brug command: `-v` counts, BRUG_LOG_FORMAT and BRUG_LOG_LEVEL."""
    chosen = os.environ.get("BRUG_LOG_LEVEL", "").strip().upper()
    if json_wanted():
        # a service's log: what happened (info) unless asked otherwise; one line per event on stderr
        default = logging.INFO if verbose < 2 else logging.DEBUG
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    elif console is not None and not console.is_terminal:
        # a file, a pipe, the journal: one plain line per event, never wrapped, at a small fraction of the
        # cost of Rich's layout (about 2 ms a line, two lines per post: most of a fan-out's own CPU)
        default = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
        handler = logging.StreamHandler(console.file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", datefmt="%Y-%m-%d %H:%M:%S"))
    else:
        from rich.logging import RichHandler

        default = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
        handler = RichHandler(console=console, show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s", datefmt="[%X]"))
    level = getattr(logging, chosen, None) if chosen in ("DEBUG", "INFO", "WARNING", "ERROR") else default
    handler.addFilter(Redacting())
    logging.basicConfig(level=level, force=True, handlers=[handler])
    logging.captureWarnings(json_wanted())  # in JSON, a library's warning is a JSON line too
    # httpx says every request and nio every room event at info level: only when debugging
    for noisy in ("httpx", "httpcore", "nio"):
        logging.getLogger(noisy).setLevel(logging.WARNING if level > logging.DEBUG else logging.NOTSET)
