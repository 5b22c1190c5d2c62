"""YAML loading that remembers where each value came from, so a message can name the line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass
class LoadedYaml:
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)  # path -> 1-based line of the value
    duplicates: list[tuple[Path, int]] = field(default_factory=list)

    def line_of(self, path: Path) -> int | None:
        """The line of `path`, or of its nearest ancestor the document has (a missing key's mapping)."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


def load_yaml(text: str) -> LoadedYaml:
    """Parse one YAML document with the safe loader. Raises yaml.YAMLError (with a mark) on bad syntax."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    loaded = LoadedYaml(data=data)
    if node is not None:
        _walk(node, (), loaded, depth=0)
    return loaded


def _walk(node: yaml.Node, path: Path, loaded: LoadedYaml, depth: int) -> None:
    loaded.lines.setdefault(path, node.start_mark.line + 1)
    if depth > 32:  # bounded: specs are shallow; anything deeper is reported by the schema checks
        return
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                loaded.duplicates.append(((*path, key), key_node.start_mark.line + 1))
            seen.add(key)
            _walk(value_node, (*path, key), loaded, depth + 1)
            loaded.lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), loaded, depth + 1)
