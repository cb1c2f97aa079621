"""Names of folders and documents in a workspace, in the partnership's language.

Documents are identified by a stable key ("agreement", "phase/ja-graag/guide") that does not depend
on the language, so brug recognises its own documents whatever they are called. Folder and file
names are in the partnership's language: a Dutch workspace uses the (Dutch) ids of phases and
documents, an English one names them after their English titles ("01-find-each-other/guide.md").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from brug.domain.types import Language, Text, slugify
from brug.domain.workflow import DocumentSpec, Phase

_NAMES: dict[Language, dict[str, str]] = {
    "nl": {
        "overview": "overzicht.md",
        "agreement": "samenwerkingsakkoord.md",
        "agreement_status": "akkoord-status.md",
        "phases": "fasen",
        "guide": "gids.md",
        "meetings": "overleg",
        "reflection": "reflectie",
        "reflection_log": "reflectielog.md",
        "signals_log": "signalen.md",
        "new_version": "nieuwe versie",
    },
    "en": {
        "overview": "overview.md",
        "agreement": "agreement.md",
        "agreement_status": "agreement-status.md",
        "phases": "phases",
        "guide": "guide.md",
        "meetings": "meetings",
        "reflection": "reflection",
        "reflection_log": "reflection-log.md",
        "signals_log": "signals.md",
        "new_version": "new version",
    },
}


@dataclass(frozen=True)
class Layout:
    language: Language

    def _n(self, name: str) -> str:
        return _NAMES[self.language][name]

    @property
    def overview(self) -> PurePosixPath:
        return PurePosixPath(self._n("overview"))

    @property
    def agreement(self) -> PurePosixPath:
        return PurePosixPath(self._n("agreement"))

    @property
    def agreement_status(self) -> PurePosixPath:
        """brug's own record of who approved which version; the agreement itself stays the partners'."""
        return PurePosixPath(self._n("agreement_status"))

    def _slug(self, item_id: str, title: Text) -> str:
        """Dutch names are the (Dutch) ids; other languages name a folder or file after its title."""
        return item_id if self.language == "nl" else slugify(title(self.language))

    def phase_folder(self, number: int, phase: Phase) -> PurePosixPath:
        return PurePosixPath(self._n("phases"), f"{number:02d}-{self._slug(phase.id, phase.title)}")

    def phase_guide(self, number: int, phase: Phase) -> PurePosixPath:
        return self.phase_folder(number, phase) / self._n("guide")

    def phase_document(self, number: int, phase: Phase, document: DocumentSpec) -> PurePosixPath:
        return self.phase_folder(number, phase) / f"{self._slug(document.id, document.title)}.md"

    @property
    def meetings(self) -> PurePosixPath:
        return PurePosixPath(self._n("meetings"))

    @property
    def reflection(self) -> PurePosixPath:
        return PurePosixPath(self._n("reflection"))

    @property
    def reflection_log(self) -> PurePosixPath:
        return self.reflection / self._n("reflection_log")

    @property
    def signals_log(self) -> PurePosixPath:
        """The signals to policy and their follow-up, at the top of the workspace."""
        return PurePosixPath(self._n("signals_log"))

    def sibling(self, path: PurePosixPath, n: int = 1) -> PurePosixPath:
        """Where a new version goes when a person edited the document: 'gids (nieuwe versie).md'."""
        label = self._n("new_version") + (f" {n}" if n > 1 else "")
        return path.with_name(f"{path.stem} ({label}){path.suffix}")

    def folders(self) -> list[PurePosixPath]:
        return [PurePosixPath(self._n("phases")), self.meetings, self.reflection]
