"""Work a DAG file does at module level, i.e. at every parse by the dag-processor (every few
minutes, on every Airflow component): calls to Airflow's database or secrets are errors, other
I/O (HTTP, cloud or database clients, sleeps, subprocesses) is a warning."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from airflow_dag_publisher.validators.model import ERROR, WARNING

# suffix of the dotted call name -> (rule, severity, what it does)
_AIRFLOW_CALLS = {
    "Variable.get": ("module-level-variable", "reads an Airflow Variable (database or secrets backend)"),
    "Variable.set": ("module-level-variable", "writes an Airflow Variable (database)"),
    "Variable.get_variable_from_secrets": ("module-level-variable", "reads an Airflow Variable from secrets"),
    "get_connection": ("module-level-connection", "reads an Airflow Connection (database or secrets backend)"),
    "get_connection_from_secrets": ("module-level-connection", "reads an Airflow Connection from secrets"),
    "get_hook": ("module-level-hook", "creates an Airflow hook"),
}
_WORK_PREFIXES = {
    "time.sleep": "sleeps",
    "sleep": "sleeps",
    "requests.": "makes an HTTP request",
    "httpx.": "makes an HTTP request",
    "urllib.request.": "makes an HTTP request",
    "urlopen": "makes an HTTP request",
    "boto3.": "creates an AWS client",
    "psycopg2.connect": "opens a database connection",
    "psycopg.connect": "opens a database connection",
    "pymysql.connect": "opens a database connection",
    "sqlite3.connect": "opens a database connection",
    "create_engine": "creates a database engine",
    "subprocess.": "runs a subprocess",
    "os.system": "runs a shell command",
    "socket.": "opens a socket",
}


def module_level_calls(tree: ast.Module) -> Iterator[ast.Call]:
    """Calls that run when the module is imported: everything outside function and class bodies
    (a class body runs at import, so it counts), lambdas excluded."""
    stack: list[ast.AST] = list(tree.body)
    seen = 0
    while stack and seen < 1_000_000:
        seen += 1
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            stack.extend(node.decorator_list)  # decorators run at import
            stack.extend(d for d in node.args.defaults + node.args.kw_defaults if d is not None)
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Call):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def call_name(node: ast.expr) -> str:
    """`a.b.C(...)` -> 'a.b.C'; '' for calls on anything but names and attributes."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = call_name(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    return ""


def work_problem(call: ast.Call) -> tuple[str, str, str] | None:
    """(rule, severity, message) for a module-level call that does work at parse time, or None."""
    name = call_name(call.func)
    if not name:
        return None
    for suffix, (rule, what) in _AIRFLOW_CALLS.items():
        if name == suffix or name.endswith("." + suffix):
            return (rule, ERROR, f"module-level {name}() {what} at every parse; move it into the task "
                    "(or use a Jinja template such as '{{ var.value.x }}')")
    last = name.rsplit(".", 1)[-1]
    if last.endswith("Hook") and last != "Hook":
        return ("module-level-hook", ERROR, f"module-level {name}() creates an Airflow hook at every parse; "
                "create it inside the task")
    if last == "Connection":
        return ("module-level-connection", ERROR, f"module-level {name}() builds an Airflow Connection at every "
                "parse; read connections inside the task")
    for prefix, what in _WORK_PREFIXES.items():
        if name == prefix or (prefix.endswith(".") and name.startswith(prefix)) or name.endswith("." + prefix):
            return ("module-level-work", WARNING, f"module-level {name}() {what} at every parse; "
                    "move it into the task")
    return None
