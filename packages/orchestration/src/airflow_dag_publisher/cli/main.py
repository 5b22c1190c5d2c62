"""Entry point of `airflow-dag-publisher`: parse, dispatch, map errors to exit codes — nothing else."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from importlib import import_module

from airflow_dag_publisher import __version__
from airflow_dag_publisher.errors import EXIT_STORAGE, EXIT_USAGE, DagPublisherError

# command name -> module under airflow_dag_publisher.cli; each has register(subparsers) setting
# `func`, a callable from the parsed namespace to an exit code.
COMMANDS = ("generate", "validate", "publish", "list", "history", "rollback", "retire")
_MODULES = {"list": "list_"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="airflow-dag-publisher", description="Generate, validate and publish Airflow DAGs "
                     "to S3 with release manifests, history, rollback and retirement.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        module = import_module(f"airflow_dag_publisher.cli.{_MODULES.get(name, name)}")
        module.register(sub)
    return parser


def _crash_log(exc: BaseException) -> str:
    fd, path = tempfile.mkstemp(prefix="airflow-dag-publisher-crash-", suffix=".log")
    with os.fdopen(fd, "w") as fh:
        fh.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except DagPublisherError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the one place a bug is caught; the traceback goes to a file
        path = _crash_log(exc)
        print(f"internal error: {type(exc).__name__}: {exc} (this is a bug; details in {path})", file=sys.stderr)
        return EXIT_STORAGE


if __name__ == "__main__":
    sys.exit(main())
