# PYTHON_ARGCOMPLETE_OK
"""Entry point of `airflow-dag-publisher`: build the parser, dispatch to the command, and leave
every error to the toolkit's one handler (cli/toolkit.py) — nothing else."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib import import_module

from airflow_dag_publisher import __version__
from airflow_dag_publisher.cli import toolkit

PROG = "airflow-dag-publisher"
# command name -> module under airflow_dag_publisher.cli; each has register(subparsers, environ)
# setting `func`, a callable from the parsed namespace to an exit code.
COMMANDS = ("generate", "validate", "publish", "promote", "list", "history", "show", "diff", "rollback", "retire")
_MODULES = {"list": "list_"}


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = toolkit.Parser(prog=PROG, parents=[toolkit.verbose_parent(top=True)],
                            description="Generate, validate and publish Airflow DAGs to S3 with release manifests, "
                            "history, rollback and retirement.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=toolkit.Parser)
    sub.required = True
    for name in COMMANDS:
        module = import_module(f"airflow_dag_publisher.cli.{_MODULES.get(name, name)}")
        module.register(sub, environ)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)

    def run() -> int:
        args = toolkit.parse(build_parser(os.environ), args_list)
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                            format="%(levelname)s %(name)s: %(message)s")
        func: Callable[[argparse.Namespace], int] = args.func
        return func(args)

    return toolkit.guard(PROG, args_list, run)


if __name__ == "__main__":
    sys.exit(main())
