"""One clear line when a platform becomes unreachable, and one when it is back.

During an outage every request fails, and every retry would say so again; the client library adds
its own "Timed out, sleeping" for a refused connection. What an administrator needs is the real
cause once ("connection refused", "no answer within 30 s"), how many posts wait, and later that it is
back and how many posts were waiting. Everything in between is logged at debug level.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from brug.logs import fields

log = logging.getLogger(__name__)

def cause(err: BaseException) -> str:
    """The real reason a request failed, in a few words."""
    if isinstance(err, TimeoutError):
        return "no answer in time (timed out)"
    inner = getattr(err, "os_error", None) or err.__cause__ or err
    number = getattr(inner, "errno", None)
    text = os.strerror(number) if isinstance(number, int) else str(inner) or type(inner).__name__
    return text[0].lower() + text[1:]


class Reachability:
    """Whether a platform answers; says so when that changes (and only then)."""

    def __init__(
        self,
        what: str,
        waiting: Callable[[], int],
        clock: Callable[[], float] = time.monotonic,
        *,
        platform: str | None = None,
    ) -> None:
        self.what = what
        self.platform = platform  # for the log lines' `platform` field
        self.waiting = waiting  # how many posts wait for the platform
        self.clock = clock
        self.down_since: float | None = None
        self.last_cause = ""

    def _waiting(self) -> str:
        """How many posts wait, or '?' when the store cannot say (it may be down too): the line is said anyway."""
        try:
            return str(self.waiting())
        except Exception as err:  # noqa: BLE001 - never lose the line about the outage
            log.debug("could not count the waiting posts: %s", err)
            return "?"

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, err: BaseException) -> None:
        self.last_cause = cause(err)
        if self.down_since is None:
            self.down_since = self.clock()
            log.warning(
                "%s is unreachable: %s. %s post(s) waiting; brug keeps trying and says when it is back.",
                self.what,
                self.last_cause,
                self._waiting(),
                extra=fields(platform=self.platform, outcome="unreachable"),
            )
        else:
            log.debug("%s still unreachable: %s", self.what, self.last_cause, exc_info=err)

    def answered(self) -> None:
        if self.down_since is None:
            return
        gone = self.clock() - self.down_since
        self.down_since = None
        log.warning(
            "%s is reachable again after %s; %s post(s) were waiting and go out now.",
            self.what,
            _duration(gone),
            self._waiting(),
            extra=fields(platform=self.platform, outcome="reachable", seconds=round(gone, 1)),
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class _QuietRetries(logging.Filter):
    """nio logs "Timed out, sleeping" on every retry, also for a refused connection: Reachability
    says what happened instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Timed out, sleeping")


logging.getLogger("nio.client.async_client").addFilter(_QuietRetries())
