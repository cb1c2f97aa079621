"""A tiny router: each route is a set of methods, a regex on the decoded path and a handler."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.responses import Response

from .common import Ctx

Handler = Callable[[Ctx], Awaitable[Response]]


@dataclass
class Route:
    """One endpoint; ``methods`` may contain ``*`` to accept any method (DAV dispatchers)."""

    methods: tuple[str, ...]
    pattern: str
    handler: Handler
    regex: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.regex = re.compile(self.pattern)

    def accepts(self, method: str) -> bool:
        """True when the route handles ``method``."""
        return "*" in self.methods or method in self.methods
