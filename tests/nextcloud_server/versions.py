"""What differs between the Nextcloud releases the test server emulates (30, 31 and 32).

Each release ships its own Talk, Deck and Teams. The differences that matter to a client:

- Talk 20 (Nextcloud 30) has no ``config.conversations.description-length`` capability; its
  description limit is the implicit 500 characters. Talk 21 (Nextcloud 31) added the capability
  with 2000, and Talk 22 (Nextcloud 32) kept it (``spreed/docs/capabilities.md``, sections 20–22).
- Talk 21 added ``conversation-creation-password``, ``edit-draft-poll`` and the list-style and
  retention settings; Talk 22 added ``threads``.
- Federation exists in every release but is off until an admin enables it (``federation.enabled``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Release:
    major: int
    server: str
    talk: str
    deck: str
    description_length: int  # what Talk enforces
    description_capability: bool  # whether Talk announces it
    talk_features: tuple[str, ...]  # on top of the common ones

    @property
    def version(self) -> dict[str, object]:
        major, minor, micro = (int(x) for x in self.server.split("."))
        return {
            "major": major,
            "minor": minor,
            "micro": micro,
            "string": self.server,
            "edition": "",
            "extendedSupport": False,
        }


RELEASES: dict[int, Release] = {
    30: Release(30, "30.0.17", "20.1.9", "1.14.6", 500, False, ()),
    31: Release(
        31,
        "31.0.9",
        "21.1.5",
        "1.15.3",
        2000,
        True,
        ("conversation-creation-password", "edit-draft-poll", "conversation-creation-all", "important-conversations"),
    ),
    32: Release(
        32,
        "32.0.1",
        "22.0.0",
        "1.16.0",
        2000,
        True,
        (
            "conversation-creation-password",
            "edit-draft-poll",
            "conversation-creation-all",
            "important-conversations",
            "threads",
        ),
    ),
}
SUPPORTED = tuple(RELEASES)
