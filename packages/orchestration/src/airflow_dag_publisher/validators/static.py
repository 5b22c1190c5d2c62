"""The static layer: checks read from a file's source text, no Airflow needed.

Only what is certain from the text is reported: syntax, literal dag_ids, literal KubernetesPodOperator
arguments (a missing argument may come from `default_args`: the Airflow parse judges those), Airflow 2
DAG arguments, imports that cannot work as production lays files out, and work at module level that
runs at every parse of the file. The dag_id and KubernetesPodOperator rules are the cluster policy's own
functions, called with the literal values (cheap pre-checks for when Airflow cannot parse here).
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from airflow_dag_publisher.policy import cluster_policy as policy
from airflow_dag_publisher.validators import conventions as conv
from airflow_dag_publisher.validators.model import ERROR, Finding
from airflow_dag_publisher.validators.static_calls import call_name, module_level_calls, work_problem


@dataclass(frozen=True)
class StaticContext:
    package: str
    other_packages: frozenset[str] = frozenset()
    source_modules: frozenset[str] = frozenset()  # top-level module names found in the source folder
    cluster: policy.Cluster = field(default_factory=policy.Cluster)


@dataclass
class StaticResult:
    findings: list[Finding] = field(default_factory=list)
    dag_ids: list[str] = field(default_factory=list)
    parsed: bool = True
    images: list[tuple[str, str, str | None]] = field(default_factory=list)  # ("", task_id, literal image)


# CPython 3.11's AST constructor keeps its recursion depth in shared state: two threads parsing at once
# can fail with "SystemError: AST constructor recursion depth mismatch" (bench/ publishes from 16
# threads). One parse at a time; a parse takes a millisecond.
_PARSE_LOCK = threading.Lock()


def check_source(rel: str, text: bytes, ctx: StaticContext) -> StaticResult:
    result = StaticResult()
    try:
        with _PARSE_LOCK:
            tree = ast.parse(text, filename=rel)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        where = f"line {line}: " if line else ""
        msg = getattr(exc, "msg", str(exc))
        result.findings.append(Finding(rel, "syntax", ERROR, f"{where}{msg}"))
        result.parsed = False
        return result
    problems: list[tuple[str, str, str, int]] = []  # (rule, severity, message, line)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            problems.extend(_call_problems(node, ctx))
            if call_name(node.func).rsplit(".", 1)[-1] == "KubernetesPodOperator":
                result.images.append(_literal_image(node))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            dag_id = _decorated_dag_id(node)
            if dag_id is not None:
                result.dag_ids.append(dag_id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            problems.extend(_import_problems(node, ctx))
    result.dag_ids.extend(_literal_dag_ids(tree))
    for dag_id in sorted(set(result.dag_ids)):
        problem = policy.dag_id_problem(dag_id, ctx.package, ctx.other_packages | ctx.cluster.packages)
        if problem:
            problems.append(("dag-id-prefix", ERROR, problem, 0))
    for call in module_level_calls(tree):
        found = work_problem(call)
        if found:
            problems.append((found[0], found[1], found[2], call.lineno))
    for rule, severity, message, line in sorted(set(problems), key=lambda p: (p[3], p[0], p[2])):
        where = f"line {line}: " if line else ""
        result.findings.append(Finding(rel, rule, severity, f"{where}{message}"))
    result.dag_ids = sorted(set(result.dag_ids))
    result.images.sort(key=lambda t: (t[1], t[2] or ""))
    return result


def _literal_image(call: ast.Call) -> tuple[str, str, str | None]:
    """("", task_id, image) of a KubernetesPodOperator call: None where the text does not say it."""
    kwargs = _keywords(call)
    task_id, image = _literal(kwargs.get("task_id")), _literal(kwargs.get("image"))
    return "", task_id if isinstance(task_id, str) else "?", image if isinstance(image, str) else None


def _literal(node: ast.expr | None) -> object:
    try:
        return ast.literal_eval(node) if node is not None else None
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _UNKNOWN


_UNKNOWN = object()


def _keywords(call: ast.Call) -> dict[str, ast.expr]:
    return {kw.arg: kw.value for kw in call.keywords if kw.arg is not None}


def _literal_dag_ids(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and call_name(node.func).rsplit(".", 1)[-1] in ("DAG", "dag"):
            value = _keywords(node).get("dag_id") or (node.args[0] if node.args else None)
            literal = _literal(value)
            if isinstance(literal, str):
                yield literal


def _decorated_dag_id(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """A `@dag` function without an explicit dag_id is named after the function."""
    for deco in func.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        if call_name(target).rsplit(".", 1)[-1] == "dag":
            if isinstance(deco, ast.Call) and ("dag_id" in _keywords(deco) or deco.args):
                return None  # counted by _literal_dag_ids when literal
            return func.name
    return None


def _call_problems(call: ast.Call, ctx: StaticContext) -> Iterator[tuple[str, str, str, int]]:
    name = call_name(call.func).rsplit(".", 1)[-1]
    kwargs = _keywords(call)
    if name in ("DAG", "dag"):
        for arg, hint in conv.AIRFLOW2_DAG_ARGUMENTS.items():
            if arg in kwargs:
                yield ("airflow2-argument", ERROR, f"{arg}= was removed in Airflow 3 ({hint})", call.lineno)
    if name == "KubernetesPodOperator":
        for rule, message in _kpo_literal_problems(kwargs, ctx):
            yield (rule, ERROR, f"task {_literal(kwargs.get('task_id'))!r}: {message}", call.lineno)


def _kpo_literal_problems(kwargs: dict[str, ast.expr], ctx: StaticContext) -> Iterator[conv.Problem]:
    """The cluster policy's KubernetesPodOperator rules over the literal arguments, then the validator's."""
    literals = {name: _literal(kwargs[name]) for name in policy.KPO_DEFAULTS if name in kwargs}
    yield from policy.kpo_problems({k: v for k, v in literals.items() if v is not _UNKNOWN}, ctx.package,
                                   ctx.cluster)
    get_logs = _literal(kwargs["get_logs"]) if "get_logs" in kwargs else _UNKNOWN
    if get_logs is not _UNKNOWN and (problem := conv.get_logs_problem(get_logs)):
        yield ("kpo-get-logs", problem)
    if "container_resources" in kwargs:
        problem = _resources_literal_problem(kwargs["container_resources"])
        if problem:
            yield ("kpo-resources", problem)


def _resources_literal_problem(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and node.value is None:
        return conv.resources_problem(None, None)
    if not (isinstance(node, ast.Call) and call_name(node.func).endswith("V1ResourceRequirements")):
        return None
    kwargs = _keywords(node)
    if any(kw.arg is None for kw in node.keywords):
        return None
    parts = [_literal(kwargs.get("requests")), _literal(kwargs.get("limits"))]
    if any(part is _UNKNOWN for part in parts):
        return None
    requests, limits = (p if isinstance(p, dict) else None for p in parts)
    return conv.resources_problem(requests, limits)


def _import_problems(node: ast.Import | ast.ImportFrom, ctx: StaticContext) -> Iterator[tuple[str, str, str, int]]:
    if isinstance(node, ast.ImportFrom) and node.level:
        yield ("relative-import", ERROR, f"relative import 'from {'.' * node.level}{node.module or ''} import ...' "
               f"fails in Airflow (DAG files are not loaded as package modules); "
               f"use 'from {ctx.package}...' instead", node.lineno)
        return
    modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    for module in modules:
        top = module.split(".", 1)[0]
        if top in ctx.other_packages and top != ctx.package:
            yield ("cross-package-import", ERROR, f"imports {module!r} from package {top!r}: a package may only "
                   f"import its own modules", node.lineno)
        elif top in ctx.source_modules and top != ctx.package:
            yield ("source-relative-import", ERROR, f"'{module}' is importable only from the source folder; in "
                   f"Airflow the file lives in <dags>/{ctx.package}/: import it as '{ctx.package}.{module}'",
                   node.lineno)
