"""The package's structure: no import cycle between its modules (imports inside functions count: a
lazy import hides a cycle, it does not remove it), the cluster policy module imports only the
standard library and Airflow (it is copied verbatim into Airflow's local settings), and the sync
planner stays pure (no boto3, no file or network I/O of its own)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import airflow_dag_publisher

SRC = Path(airflow_dag_publisher.__file__).parent
ROOT = "airflow_dag_publisher"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The package's modules a module imports, anywhere in it (`from a.b import c` is a.b.c when c
    is a module, else a.b)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(ROOT))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(ROOT) and not node.level:
            for alias in node.names:
                found.add(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module)
    return found & known


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), and self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_the_package_modules() -> None:
    known = modules()
    graph = {name: imports_of(path, set(known)) - {name} for name, path in known.items()}
    assert len(graph) > 60 and sum(map(len, graph.values())) > 150  # the walk saw the package
    assert cycles(graph) == []


def test_the_finder_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def top_level_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_the_cluster_policy_imports_only_the_standard_library_and_airflow() -> None:
    imported = top_level_imports(SRC / "policy" / "cluster_policy.py")
    assert imported - set(sys.stdlib_module_names) <= {"airflow"}, imported


def test_the_sync_planner_does_no_io_of_its_own() -> None:
    imported = top_level_imports(SRC / "sync" / "planner.py")
    assert not imported & {"boto3", "botocore", "urllib3", "os", "socket", "subprocess", "shutil"}, imported
