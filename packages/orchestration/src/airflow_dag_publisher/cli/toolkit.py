"""One command-line toolkit for both entry points, `airflow-dag-publisher` and `airflow-dag-sync`:
the parser class, the one environment-fallback scheme, number parsing, and the one top-level
handler that maps the exception hierarchy (errors.py) to exit codes.

- Every option may fall back to an environment variable (`Options.add(..., env="NAME")`); a bad
  value there is a usage error naming the variable, raised while the parser is built.
- `-v/--verbose` is accepted before or after the command.
- `guard()` runs a parsed command: a DagPublisherError prints one line (or, when `--json` is on the
  command line, `{"error": {"code", "kind", "message"}}` on stdout) and exits with the code
  `errors.exit_code` gives its kind; Ctrl-C exits 130; anything else is a bug: one line naming it
  and the file holding the traceback, exit 4.
- Shell completion through argcomplete (`eval "$(register-python-argcomplete airflow-dag-publisher)"`).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import logging
import os
import shutil
import sys
import tempfile
import textwrap
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NoReturn

from airflow_dag_publisher.errors import DagPublisherError, ErrorKind, UsageError, exit_code, kind_of

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


class ArgumentError(UsageError):
    """A command line argparse refused: `prog` is the parser that refused it (the command's, for a
    command's option), `usage` the usage line printed before the message."""

    def __init__(self, message: str, usage: str, prog: str) -> None:
        super().__init__(message)
        self.usage = usage
        self.prog = prog


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest of `known` to a mistyped `word`, else ''."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


class Parser(argparse.ArgumentParser):
    """argparse, but a bad command line raises ArgumentError (exit 2 through `guard`) instead of
    printing and exiting on its own, so that `--json` callers get a JSON error too; a mistyped
    command, choice or option gets a "did you mean"."""

    def error(self, message: str) -> NoReturn:
        raise ArgumentError(message, self.format_usage(), self.prog)

    def _check_value(self, action: argparse.Action, value: Any) -> None:  # argparse's hook for `choices`
        if action.choices is None or value in action.choices:
            return
        choices = [str(c) for c in action.choices]
        if isinstance(action, argparse._SubParsersAction):
            raise argparse.ArgumentError(None, f"unknown command {value!r}{did_you_mean(value, choices)}; "
                                         f"commands: {', '.join(choices)}")
        raise argparse.ArgumentError(action, f"invalid choice: {value!r}{did_you_mean(str(value), choices)} "
                                     f"(choose from {', '.join(choices)})")

    def unrecognized(self, extras: Sequence[str]) -> NoReturn:
        """Refuse arguments this parser does not know, suggesting the option each was meant to be."""
        options = [o for o in self._option_string_actions if o.startswith("--")]
        named = [f"{x}{did_you_mean(x.partition('=')[0], options)}" if x.startswith("-") else x for x in extras]
        self.error(f"unrecognized arguments: {' '.join(named)}")


def command_parser(parser: argparse.ArgumentParser, name: str | None) -> argparse.ArgumentParser | None:
    """The parser of command `name` under `parser` (None: no such command, or no commands)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            found: argparse.ArgumentParser = action.choices[name]
            return found
    return None


def print_help(parser: argparse.ArgumentParser, name: str | None) -> int:
    """`help [COMMAND]`: the command's --help (the program's without one)."""
    if name is None:
        parser.print_help()
        return 0
    found = command_parser(parser, name)
    if found is None:
        commands = next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        raise UsageError(f"help: unknown command {name!r}{did_you_mean(name, commands)}; commands: "
                         f"{', '.join(commands)}")
    found.print_help()
    return 0


def verbose_parent(*, top: bool) -> argparse.ArgumentParser:
    """`-v` for the top-level parser (default False) and for every command (default: keep the
    top-level value), so `-v` works before or after the command."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-v", "--verbose", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="log details to stderr")
    return parent


# What every exit status means (errors.py decides which one an error gets).
EXIT_MEANINGS = {
    0: "success",
    1: "refused, for the reason the message gives",
    2: "usage or configuration error (bad names or options, an environment or bucket that does not exist)",
    3: "storage or network error, worth retrying",
    4: "a bug, never worth retrying (one line names the file holding the traceback)",
}


def help_epilog(prog: str, examples: Sequence[str], exits: Mapping[int, str] | None = None, *,
                notes: str = "") -> str:
    """The end of a command's --help: notes, examples, and what each exit status means for it
    (`exits` replaces the general meaning of a status; a status mapped to "" is left out)."""
    meanings = {**EXIT_MEANINGS, **(exits or {})}
    lines = [notes.rstrip(), ""] if notes else []
    lines.append("examples:")
    lines += [f"  {prog} {example}" for example in examples]
    lines += ["", "exit status:"]
    lines += [f"  {code}  {text}" for code, text in sorted(meanings.items()) if text]
    return "\n".join(lines) + "\n"


def command(sub: Any, name: str, *, help: str, description: str, examples: Sequence[str],
            exits: Mapping[int, str] | None = None, notes: str = "", **kwargs: Any) -> argparse.ArgumentParser:
    """A command's parser under `sub` (a subparsers action): `-v` accepted after the command, and a
    --help with a description, examples and the exit statuses."""
    width = max(40, min(shutil.get_terminal_size().columns - 2, 100))
    parser: argparse.ArgumentParser = sub.add_parser(
        name, parents=[verbose_parent(top=False)], help=help, description=textwrap.fill(description, width),
        formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)
    parser.epilog = help_epilog(parser.prog, examples, exits, notes=notes)  # prog: "airflow-dag-publisher NAME"
    return parser


def parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS or not word:
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def number(kind: Callable[[str], float] | type[int] = float, *, minimum: float | None = 0, exclusive: bool = True,
           maximum: float | None = None) -> Callable[[str], Any]:
    """An argparse type: a number of `kind` (int or float) above `minimum` (or at least it, with
    `exclusive=False`) and at most `maximum`. The one number parser of both entry points."""
    def parse(text: str) -> Any:
        try:
            value = kind(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'a whole number' if kind is int else 'a number'}") \
                from None
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if minimum is not None and (value <= minimum if exclusive else value < minimum):
            raise argparse.ArgumentTypeError(f"{text!r} must be {'>' if exclusive else '>='} {minimum:g}"
                                             + (f" and <= {maximum:g}" if maximum is not None else ""))
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{text!r} must be <= {maximum:g}")
        return value
    parse.__name__ = "int" if kind is int else "number"
    return parse


class Options:
    """Adds options to one parser, each falling back to its environment variable."""

    def __init__(self, parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
        self.parser = parser
        self.environ = environ

    def env_value(self, name: str, parse: Callable[[str], Any], default: Any) -> Any:
        raw = self.environ.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise UsageError(f"{name}={raw!r}: {exc}") from None

    def add(self, *flags: str, env: str | None = None, type: Callable[[str], Any] = str, default: Any = None,
            help: str = "", **kwargs: Any) -> argparse.Action:
        if env:
            default = self.env_value(env, type, default)
            help = f"{help} (env {env})" if help else f"(env {env})"
        return self.parser.add_argument(*flags, type=type, default=default, help=help, **kwargs)

    def flag(self, *flags: str, env: str | None = None, help: str = "") -> argparse.Action:
        default = self.env_value(env, parse_bool, False) if env else False
        if env:
            help = f"{help} (env {env}=true)"
        return self.parser.add_argument(*flags, action="store_true", default=default, help=help)


def crash_log(prog: str, exc: BaseException) -> str:
    """Write the traceback of a bug to a file; return its path."""
    fd, path = tempfile.mkstemp(prefix=f"{prog}-crash-", suffix=".log")
    with os.fdopen(fd, "w") as fh:
        fh.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    return path


def report_error(prog: str, code: int, kind: str, message: str, *, as_json: bool, usage: str = "",
                 details: Any = None) -> None:
    if as_json:
        error: dict[str, Any] = {"code": code, "kind": kind, "message": message}
        if details is not None:  # what the command did before it failed (e.g. the release it committed)
            error["details"] = details
        sys.stdout.write(json.dumps({"error": error}, indent=2) + "\n")
        sys.stdout.flush()
        return
    if usage:
        sys.stderr.write(usage)
    first, _, rest = message.partition("\n")
    print(f"{prog}: error: {first}" + (f"\n{rest}" if rest else ""), file=sys.stderr)


def wants_json(argv: Sequence[str]) -> bool:
    """The command line asks for JSON output (`--json`, or `validate`'s `--format json`), so an error is
    JSON too; read from the raw arguments, as an error may come before they are parsed."""
    pairs = zip(argv, [*argv[1:], ""][:len(argv)], strict=True)
    return any(a == "--json" or a == "--format=json" or (a == "--format" and b == "json") for a, b in pairs)


def guard(prog: str, argv: Sequence[str], run: Callable[[], int]) -> int:
    """Run a command line: parse and execute inside `run`; every failure is reported once, with the
    exit code `errors.exit_code` gives it."""
    as_json = wants_json(argv)
    try:
        return run()
    except SystemExit as exc:  # --help and --version print and exit 0
        return exc.code if isinstance(exc.code, int) else 0
    except BrokenPipeError:  # `… | head`: the reader left; nothing more to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (Exception, KeyboardInterrupt) as exc:
        return report_failure(prog, exc, as_json=as_json)


def report_failure(prog: str, exc: BaseException, *, as_json: bool) -> int:
    """Say what failed (a bug: one line naming the file its traceback went to) and return its exit code."""
    code, kind = exit_code(exc), kind_of(exc)
    if kind is ErrorKind.INTERNAL:
        path = crash_log(prog, exc)
        message = (f"internal error: {type(exc).__name__}: {exc} (this is a bug, not worth retrying; the traceback "
                   f"is in {path})")
    elif kind is ErrorKind.INTERRUPTED:
        message = "interrupted"
    else:
        message = str(exc)
    details = exc.details if isinstance(exc, DagPublisherError) else None
    usage, who = (exc.usage, exc.prog) if isinstance(exc, ArgumentError) else ("", prog)
    report_error(who, code, kind, message, as_json=as_json, usage=usage, details=details)
    return code


@contextlib.contextmanager
def log_to_stderr(level: int) -> Iterator[None]:
    """Log records at `level` and above to the current stderr while the block runs; the root logger is
    put back afterwards, so an in-process caller (a test) never keeps a handler on a closed stream."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    saved = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None, *, command: str | None = None
          ) -> argparse.Namespace:
    """Offer shell completion when the shell asks (argcomplete sets _ARGCOMPLETE; imported only
    then, so that a plain run does not pay for it), then parse. An argument nobody knows is refused
    by the parser of the command it follows (its usage, its options suggested); `command` names the
    attribute the command's name is parsed into."""
    if "_ARGCOMPLETE" in os.environ:
        import argcomplete

        argcomplete.autocomplete(parser)
    args, extras = parser.parse_known_args(argv)
    if extras:
        owner = command_parser(parser, getattr(args, command, None)) if command else None
        if isinstance(owner, Parser):
            owner.unrecognized(extras)
        if isinstance(parser, Parser):
            parser.unrecognized(extras)
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    return args
