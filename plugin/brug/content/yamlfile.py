"""Reading YAML so that errors can point at a line, and nothing is guessed.

Differences from `yaml.safe_load`, on purpose:
- dates and times stay strings (the models parse them, with a clear message when they are wrong);
- only `true`/`false` are booleans (`no`, `on`, `yes` stay text, so a value is never flipped silently);
- a key written twice in one mapping is an error (otherwise the last one would silently win);
- a file is refused early when it is too large, nested too deep or holds an endless text, before it
  costs time and memory; control characters are taken out of every text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from brug.domain.types import Loc, strip_controls

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~5x faster to read


class _Loader(_Base):  # type: ignore[valid-type, misc]
    pass


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class YamlError(ValueError):
    """A file that is not readable YAML; carries the line where the reader stopped."""

    def __init__(
        self, message: str, line: int | None = None, loc: Loc = (), kind: str = "brug_yaml", **ctx: object
    ) -> None:
        super().__init__(message)
        self.line = line
        self.loc = loc
        self.kind = kind  # a key of brug.content.problems.EXPECTED, for a message in the user's language
        self.ctx = ctx


@dataclass
class YamlDocument:
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """The line of the deepest part of `loc` that exists in the file."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return None


MAX_FILE_BYTES = 512 * 1024  # a partnership of 40 organisations takes about 30 kB
MAX_DEPTH = 24  # a partnership file nests 5 deep
MAX_SCALAR = 20_000  # characters in one value: a long goal or a phase guide's paragraph is 1,000
MAX_NODES = 50_000  # a partnership file has a few hundred; aliases must not multiply that


def read_yaml(text: str) -> YamlDocument:
    text = strip_controls(text)  # the lines stay where they were: newlines are kept
    try:
        _check_shape(text)
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise YamlError(_yaml_problem(err), mark.line + 1 if mark else 1) from None
    except yaml.YAMLError as err:  # other reader errors carry no position
        raise YamlError(str(err), 1) from None
    if node is None:
        return YamlDocument(data=None)
    lines: dict[Loc, int] = {}
    _walk(node, (), lines, set(), [0])
    loader = _Loader("")
    try:
        data = loader.construct_document(node)
    except yaml.constructor.ConstructorError as err:
        mark = err.problem_mark
        raise YamlError(_yaml_problem(err), mark.line + 1 if mark else 1) from None
    except (ValueError, TypeError, KeyError, OverflowError):  # e.g. !!int 'abc', !!timestamp '2026-02-30'
        raise _unreadable_tag(node) from None
    finally:
        loader.dispose()
    return YamlDocument(data=data, lines=lines)


def load_yaml_file(path: Path) -> YamlDocument:
    """Read a file as YAML; a file too large to be a partnership is refused before it is read."""
    if not path.is_file():  # a device or a pipe (/dev/zero) would be read for ever
        raise YamlError("not a file", 1, (), "brug_not_a_file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise YamlError("too large", 1, (), "brug_file_too_big", size=-(-size // 1024), max=MAX_FILE_BYTES // 1024)
    with path.open("rb") as handle:  # never more than the limit, even when the file grows meanwhile
        raw = handle.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise YamlError("too large", 1, (), "brug_file_too_big", size=-(-len(raw) // 1024), max=MAX_FILE_BYTES // 1024)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise YamlError("not UTF-8", raw[: err.start].count(b"\n") + 1, (), "brug_not_utf8") from None
    return read_yaml(text)


def _check_shape(text: str) -> None:
    """Refuse deep nesting and endless texts while reading, before anything is built from them."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlError("nested too deep", event.start_mark.line + 1, (), "brug_too_deep", max=MAX_DEPTH)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_SCALAR:
            raise YamlError("text too long", event.start_mark.line + 1, (), "brug_text_too_long", max=MAX_SCALAR)


def _unreadable_tag(root: yaml.Node) -> YamlError:
    """The first value whose explicit tag cannot be read, with its line."""
    stack = [root]
    while stack:
        node = stack.pop(0)
        if isinstance(node, yaml.ScalarNode):
            loader = _Loader("")
            try:
                loader.construct_object(node, deep=True)
            except (ValueError, TypeError, KeyError, OverflowError, yaml.YAMLError):
                tag = node.tag.removeprefix("tag:yaml.org,2002:")
                return YamlError(
                    "unreadable tag", node.start_mark.line + 1, (), "brug_yaml_tag", value=node.value[:40], tag=tag
                )
            finally:
                loader.dispose()
        elif isinstance(node, yaml.MappingNode):
            stack += [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value
    return YamlError("unreadable value", root.start_mark.line + 1, (), "brug_yaml_tag", value="?", tag="?")


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int], path: set[int], count: list[int]) -> None:
    count[0] += 1
    if count[0] > MAX_NODES:
        raise YamlError(
            "too large or repeats itself through aliases", node.start_mark.line + 1, loc, "brug_yaml_too_big"
        )
    if id(node) in path:
        raise YamlError("an alias refers to itself", node.start_mark.line + 1, loc, "brug_yaml_alias_loop")
    lines[loc] = node.start_mark.line + 1
    path = path | {id(node)}
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise YamlError(
                    f"duplicate key '{key}' (first on line {seen[key]})",
                    line,
                    (*loc, key),
                    "brug_duplicate_key",
                    key=key,
                    first=seen[key],
                )
            seen[key] = line
            _walk(value_node, (*loc, key), lines, path, count)
            lines[(*loc, key)] = line
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*loc, i), lines, path, count)


def _yaml_problem(err: yaml.MarkedYAMLError) -> str:
    return " ".join(part for part in (err.context, err.problem) if part) or "unreadable YAML"
