"""Reading the YAML files people write: one loader for every spec, with line numbers and limits.

Probe specs, SLO specs, hook files, OpenSLO imports, the burn-rate window
table and the redaction policy are all hand-edited YAML, and all of them are
read by unattended jobs (cron, CI, ``watch``). So every one of them goes
through this module, which gives them the same three guarantees:

* an error is one line naming the file and line (``SpecError``), whether the
  file is missing, not UTF-8, binary garbage, not YAML, or holds a duplicate key;
* a hostile file cannot exhaust the host: size, nesting depth and the number
  of nodes after alias expansion are bounded (a 545-byte "billion laughs"
  document expands to 10^9 nodes; ``&a [*a]`` is an infinite one), and both
  are refused before any Python object is built;
* every key and item keeps its line, so a validator can point at the field.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from voiceobs.errors import SpecError

#: Largest file read, in bytes. Specs are a few KiB; this leaves room for big OpenSLO imports.
MAX_BYTES = 4 * 1024 * 1024
#: Deepest nesting of mappings and sequences, counted after aliases are expanded.
MAX_DEPTH = 64
#: Most nodes a document may hold once every alias is expanded.
MAX_NODES = 200_000

#: A path into a document: keys (str) and sequence indexes (int), outermost first.
YamlPath = tuple[Any, ...]


@dataclass(frozen=True)
class Document:
    """One parsed YAML document: plain Python data and the line of every node in it."""

    data: Any
    source: str
    lines: Mapping[YamlPath, int] = field(default_factory=dict)

    def line(self, path: YamlPath = ()) -> int | None:
        """The 1-based line of ``path``, or of its nearest ancestor that has one.

        A missing field has no node of its own, so pointing at its parent is
        the most useful place to send a person.
        """
        path = tuple(path)
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]

    def error(self, message: str, path: YamlPath = (), field: str | None = None) -> SpecError:
        """A ``SpecError`` at ``path``'s line; ``field`` defaults to the dotted path."""
        return SpecError(
            message,
            path=self.source,
            line=self.line(path),
            field=field if field is not None else (dotted(path) or None),
        )


def dotted(path: YamlPath) -> str:
    """``("turns", 0, "expect")`` -> ``turns[0].expect``: how a field is named in messages."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_text(path: str | Path, what: str = "file") -> str:
    """The text of a YAML file, or a one-line ``SpecError`` saying what is wrong with it."""
    where = Path(path)
    try:
        size = where.stat().st_size
        if size > MAX_BYTES:
            raise SpecError(
                f"{what} is {size} bytes, more than the {MAX_BYTES} a YAML file may have",
                path=str(where),
            )
        raw = where.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"no such {what}; check the path", path=str(where)) from None
    except IsADirectoryError:
        raise SpecError(f"{what} is a directory; give a YAML file", path=str(where)) from None
    except OSError as exc:
        raise SpecError(f"cannot read the {what}: {exc.strerror or exc}", path=str(where)) from None
    if b"\x00" in raw:
        raise SpecError(f"{what} is binary, not YAML text", path=str(where))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{what} is not UTF-8 text (bad byte at offset {exc.start})", path=str(where)
        ) from None


def load(path: str | Path, what: str = "file") -> Document:
    """Read and parse one YAML document from a file."""
    return parse(read_text(path, what), str(path))


def load_all(path: str | Path, what: str = "file") -> list[Document]:
    """Read and parse every document of a multi-document file (empty documents left out)."""
    return parse_all(read_text(path, what), str(path))


def parse(text: str, source: str = "<yaml>") -> Document:
    """Parse exactly one document (an empty text gives ``data=None``)."""
    docs = list(_documents(text, source, keep_empty=True))
    if len(docs) > 1:
        raise SpecError(
            "holds several YAML documents (---); this file takes one",
            path=source,
            line=docs[1].line(),
        )
    return docs[0] if docs else Document(None, source, {})


def parse_all(text: str, source: str = "<yaml>") -> list[Document]:
    """Parse every document of a multi-document stream, dropping empty ones."""
    return list(_documents(text, source, keep_empty=False))


# -- implementation -------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and over-deep documents while composing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep", mark.line + 1)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: Any) -> yaml.MappingNode:
        node: yaml.MappingNode = super().compose_mapping_node(anchor)
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                raise _Refused(f"duplicate key {key!r} (first on line {seen[key]})", line, key)
            seen[key] = line
        return node


class _Refused(Exception):
    def __init__(self, message: str, line: int | None, field: str | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.field = field


def _documents(text: str, source: str, *, keep_empty: bool) -> Iterator[Document]:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise SpecError(f"more than {MAX_BYTES} bytes of YAML", path=source)
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                if keep_empty:
                    yield Document(None, source, {})
                continue
            _check_expansion(node)
            data = loader.construct_document(node)
            if data is None and not keep_empty:
                continue
            yield Document(data, source, _line_index(node))
    except _Refused as exc:
        raise SpecError(f"refused YAML: {exc}", path=source, line=exc.line, field=exc.field) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(
            f"not valid YAML: {problem}", path=source, line=mark.line + 1 if mark else None
        ) from None
    except (ValueError, TypeError, OverflowError) as exc:
        # The constructor's own conversions (a timestamp such as 2024-13-45, a huge float).
        raise SpecError(f"not valid YAML: {exc}", path=source) from None
    finally:
        if loader is not None:
            loader.dispose()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph that is cyclic, or too big or too deep once aliases are expanded.

    Aliases make the composed graph a DAG whose expanded size can be
    exponential in the text, so sizes are summed over the DAG with memoised
    counts (linear in the text) and compared with the limits before any
    object is constructed. Iterative, so no input can exhaust the stack.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            on_path.discard(key)
            if size[key] > MAX_NODES:
                raise _Refused(
                    f"aliases expand it to more than {MAX_NODES} nodes", node.start_mark.line + 1
                )
            if depth[key] > MAX_DEPTH:
                raise _Refused(
                    f"aliases nest it more than {MAX_DEPTH} levels deep", node.start_mark.line + 1
                )
            continue
        if key in size:
            continue
        if key in on_path:
            raise _Refused("an alias refers to a node that contains it", node.start_mark.line + 1)
        on_path.add(key)
        stack.append((node, True))
        for kid in _children(node):
            kid_key = id(kid)
            if kid_key in on_path:
                raise _Refused(
                    "an alias refers to a node that contains it", kid.start_mark.line + 1
                )
            if kid_key not in size:
                stack.append((kid, False))


def _line_index(root: yaml.Node) -> dict[YamlPath, int]:
    """The line of every key and item by path (keys point at the key, not the value)."""
    lines: dict[YamlPath, int] = {}
    stack: list[tuple[yaml.Node, YamlPath]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                child = (*path, key_node.value)
                lines[child] = key_node.start_mark.line + 1
                stack.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                stack.append((item, (*path, i)))
    return lines


__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "Document",
    "YamlPath",
    "dotted",
    "load",
    "load_all",
    "parse",
    "parse_all",
    "read_text",
]
