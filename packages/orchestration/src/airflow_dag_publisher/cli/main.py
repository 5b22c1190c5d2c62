# PYTHON_ARGCOMPLETE_OK
"""Entry point of `airflow-dag-publisher`: build the parser, parse, and call the command's typed
function with its options as arguments, leaving every error to the toolkit's one handler
(cli/toolkit.py) — nothing else. Each command is one module (cli/<command>.py) with `register`,
which declares its options, and one function returning the exit code."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence

from airflow_dag_publisher import __version__
from airflow_dag_publisher.cli import (
    common,
    diff,
    env,
    generate,
    history,
    list_,
    promote,
    publish,
    retire,
    rollback,
    show,
    toolkit,
    validate,
    waiting,
)

PROG = "airflow-dag-publisher"
COMMANDS = {"generate": generate, "validate": validate, "publish": publish, "promote": promote, "list": list_,
            "history": history, "show": show, "diff": diff, "rollback": rollback, "retire": retire, "env": env}


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = toolkit.Parser(prog=PROG, parents=[toolkit.verbose_parent(top=True)],
                            description="Generate, validate and publish Airflow DAGs to S3 with release manifests, "
                            "history, rollback and retirement.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="subcommand", metavar="COMMAND", parser_class=toolkit.Parser)
    sub.required = True
    for module in COMMANDS.values():
        module.register(sub, environ)
    help_ = sub.add_parser("help", help="show a command's help: help COMMAND", description="Show the help of "
                           "COMMAND (the same as COMMAND --help), or of the program without one.")
    help_.add_argument("topic", nargs="?", metavar="COMMAND", help="a command, e.g. publish")
    return parser


def dispatch(a: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Call the command the line names, each option an argument of its function."""
    match a.subcommand:
        case "help":
            return toolkit.print_help(parser, a.topic)  # not `command`: generate has a --command option
        case "generate":
            return generate.generate(spec=a.spec, package=a.package, image=a.image, output_dir=a.output_dir,
                                     force=a.force, check=a.check, job=generate.job_flags(a), as_json=a.json)
        case "validate":
            return validate.validate(source=a.source, package=a.package, packages_file=a.packages_file,
                                     report_format=a.format, output=a.output, require_airflow=a.require_airflow,
                                     dynamic=a.dynamic, ruff=a.ruff, timeout=a.timeout, workers=a.workers,
                                     allow_operators=a.allow_operator, other_packages=a.other_package,
                                     as_json=a.json)
        case "publish":
            return publish.publish(common.Target.of(a), source=a.source, image=a.image, packages_file=a.packages_file,
                                   spec=a.spec, dry_run=a.dry_run, guardrails=common.Guardrails.of(a),
                                   max_file_size=a.max_file_size, skip_dynamic_validation=a.skip_dynamic_validation,
                                   signing_key=a.signing_key, wait=waiting.WaitOptions.of(a), as_json=a.json)
        case "promote":
            return promote.promote(common.Target.of(a), from_env=a.from_env, from_bucket=a.from_bucket,
                                   release=a.release, guardrails=common.Guardrails.of(a),
                                   wait=waiting.WaitOptions.of(a), signing_key=a.signing_key, as_json=a.json)
        case "list":
            return list_.list_packages(common.Target.of(a), as_json=a.json)
        case "history":
            return history.history(common.Target.of(a), limit=a.limit, as_json=a.json)
        case "show":
            return show.show(common.Target.of(a), a.release, as_json=a.json)
        case "diff":
            return diff.diff(common.Target.of(a), a.from_release, a.to_release, source=a.source, stat=a.stat,
                             as_json=a.json)
        case "rollback":
            return rollback.rollback(common.Target.of(a), to=a.to, signing_key=a.signing_key,
                                     wait=waiting.WaitOptions.of(a), yes=a.yes, dry_run=a.dry_run, as_json=a.json)
        case "retire":
            return retire.retire(common.Target.of(a), signing_key=a.signing_key, yes=a.yes, dry_run=a.dry_run,
                                 as_json=a.json)
        case "env":
            return env.env(a.action, env_name=a.env, bucket=a.bucket, require_signatures=a.require_signatures,
                           as_json=a.json, s3_timeout=a.s3_timeout)
    raise AssertionError(f"no dispatch for command {a.subcommand!r}")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)

    def run() -> int:
        parser = build_parser(os.environ)
        args = toolkit.parse(parser, args_list, command="subcommand")
        with toolkit.log_to_stderr(logging.INFO if args.verbose else logging.WARNING):
            return dispatch(args, parser)

    return toolkit.guard(PROG, args_list, run)


if __name__ == "__main__":
    sys.exit(main())
