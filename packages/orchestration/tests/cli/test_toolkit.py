"""The one command-line toolkit of both entry points: exit codes, JSON errors, env fallbacks, -v
anywhere, number parsing and shell completion."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from airflow_dag_publisher.cli import main as publisher_main
from airflow_dag_publisher.cli import toolkit
from airflow_dag_publisher.sync import main as sync_main

BIN = Path(sys.executable).parent


def test_a_bug_exits_4_with_one_line_naming_the_traceback_file(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    def broken(*_args: object, **_kwargs: object) -> int:
        raise KeyError("boom")

    monkeypatch.setattr("airflow_dag_publisher.cli.list_.list_packages", broken)
    code = publisher_main.main(["list", "--env", "dev", "--bucket", "dags"])
    err = capsys.readouterr().err
    assert code == 4  # not 3: a CI job retries storage errors, never a bug
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "internal error: KeyError: 'boom'" in err and "this is a bug" in err
    crash = Path(err.rsplit("the traceback is in ", 1)[1].rstrip(")\n"))
    assert crash.parent == Path(tempfile.gettempdir()) and 'raise KeyError("boom")' in crash.read_text()
    crash.unlink()


def test_a_bug_under_json_is_a_json_error_with_code_4(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("airflow_dag_publisher.cli.list_.list_packages", lambda *_a, **_k: 1 // 0)
    assert publisher_main.main(["list", "--env", "dev", "--bucket", "dags", "--json"]) == 4
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["code"] == 4 and error["kind"] == "internal" and "ZeroDivisionError" in error["message"]
    Path(error["message"].rsplit("the traceback is in ", 1)[1].rstrip(")")).unlink()


@pytest.mark.parametrize(("argv", "code", "kind", "text"), [
    (["list", "--env", "Dev!", "--bucket", "dags", "--json"], 2, "usage", "--env 'Dev!'"),
    (["publish", "--env", "dev", "--bucket", "dags", "--package", "p", "--max-delete", "many", "--json"], 2,
     "usage", "argument --max-delete: 'many' is not a whole number"),
    (["history", "--env", "dev", "--bucket", "dags", "--package", "alpha", "--json"], 3, "network",
     "cannot reach the S3 endpoint"),
])
def test_errors_under_json_are_json_on_stdout(argv: list[str], code: int, kind: str, text: str,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")  # the endpoint (conftest: port 9) is closed
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert publisher_main.main(argv) == code
    captured = capsys.readouterr()
    error = json.loads(captured.out)["error"]
    assert error["code"] == code and error["kind"] == kind and text in error["message"], error
    assert "usage:" not in captured.out


def test_a_bad_command_line_prints_usage_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert publisher_main.main(["publish", "--max-delete", "-3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: airflow-dag-publisher publish") and "--max-delete: '-3' must be >= 0" in err


@pytest.mark.parametrize("argv", [["-v", "list"], ["list", "-v"], ["list", "--verbose"]])
def test_verbose_is_accepted_before_or_after_the_command(argv: list[str]) -> None:
    args = publisher_main.build_parser({}).parse_args([*argv, "--env", "dev"])
    assert args.verbose is True and args.subcommand == "list"


def test_verbose_defaults_off_when_given_nowhere() -> None:
    assert publisher_main.build_parser({}).parse_args(["list"]).verbose is False


def test_options_fall_back_to_their_environment_variables() -> None:
    parser = publisher_main.build_parser({"ENVIRONMENT": "staging", "DAG_BUCKET": "b", "PACKAGE_NAME": "p",
                                          "IMAGE_TAG": "img:1", "DAG_SOURCE_DIR": "src"})
    args = parser.parse_args(["publish"])
    assert (args.env, args.bucket, args.package, args.image, args.source) == ("staging", "b", "p", "img:1", "src")
    assert parser.parse_args(["publish", "--env", "prod"]).env == "prod"  # the flag wins


@pytest.mark.parametrize(("environ", "name"), [({"VALIDATE_REQUIRE_AIRFLOW": "perhaps"}, "VALIDATE_REQUIRE_AIRFLOW")])
def test_a_bad_environment_value_is_a_usage_error_naming_the_variable(
        environ: dict[str, str], name: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    assert publisher_main.main(["validate", "--package", "p"]) == 2
    assert f"{name}='perhaps': 'perhaps' is not true or false" in capsys.readouterr().err


def test_both_entry_points_share_the_parser_and_the_handler(capsys: pytest.CaptureFixture[str]) -> None:
    assert sync_main.main(["--bucket", "dags", "--env", "dev", "--dags-dir", "d", "--workers", "0"], environ={}) == 2
    err = capsys.readouterr().err
    assert "airflow-dag-sync: error: argument --workers: '0' must be > 0" in err and err.count("airflow-dag-sync:") == 1
    assert isinstance(sync_main.build_parser({}), toolkit.Parser)
    assert isinstance(publisher_main.build_parser({}), toolkit.Parser)


@pytest.mark.parametrize(("kind", "minimum", "exclusive", "maximum", "text", "expected"), [
    (float, 0, True, None, "0.25", 0.25),
    (float, 0, True, None, "0", "must be > 0"),
    (float, 0, True, 60, "61", "must be <= 60"),
    (float, 0, True, None, "nan", "not a finite number"),
    (float, 0, True, None, "inf", "not a finite number"),
    (int, 0, False, None, "0", 0),
    (int, 0, False, None, "1.5", "not a whole number"),
    (int, None, True, None, "-2", -2),
])
def test_the_one_number_parser(kind: type, minimum: float | None, exclusive: bool, maximum: float | None, text: str,
                               expected: object) -> None:
    parse = toolkit.number(kind, minimum=minimum, exclusive=exclusive, maximum=maximum)
    if isinstance(expected, str):
        with pytest.raises(argparse.ArgumentTypeError, match=expected):
            parse(text)
    else:
        assert parse(text) == expected


@pytest.mark.parametrize(("script", "line", "wanted"), [
    ("airflow-dag-publisher", "airflow-dag-publisher pub", {"publish"}),
    ("airflow-dag-publisher", "airflow-dag-publisher publish --max-", {"--max-delete", "--max-file-size"}),
    ("airflow-dag-sync", "airflow-dag-sync --reconc", {"--reconcile-interval"}),
])
def test_shell_completion_offers_commands_and_options(script: str, line: str, wanted: set[str],
                                                      tmp_path: Path) -> None:
    out = tmp_path / "completions"
    env = {**os.environ, "_ARGCOMPLETE": "1", "_ARGCOMPLETE_IFS": "\n", "COMP_LINE": line,
           "COMP_POINT": str(len(line)), "_ARGCOMPLETE_STDOUT_FILENAME": str(out)}
    done = subprocess.run([str(BIN / script)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert wanted <= set(out.read_text().split()), out.read_text()


def _run(*argv: str, script: str = "airflow-dag-publisher") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / script), *argv], capture_output=True, text=True, timeout=60, check=False)


def test_a_mistyped_command_names_the_closest_one_and_the_program_once() -> None:
    done = _run("pubish", "--env", "dev")
    assert done.returncode == 2 and done.stdout == ""
    assert "airflow-dag-publisher: error: unknown command 'pubish' (did you mean publish?)" in done.stderr
    assert "airflow-dag-publisher: error: airflow-dag-publisher" not in done.stderr


def test_a_mistyped_option_gets_its_commands_usage_and_the_closest_option() -> None:
    done = _run("publish", "--env", "dev", "--pacakge", "alpha")
    assert done.returncode == 2
    usage, error = done.stderr.split("airflow-dag-publisher publish: error: ")
    assert usage.startswith("usage: airflow-dag-publisher publish ") and "--skip-dynamic-validation" in usage
    assert error.strip() == "unrecognized arguments: --pacakge (did you mean --package?) alpha"
    sync = _run("--bucket", "dags", "--onse", script="airflow-dag-sync")
    assert sync.returncode == 2 and "airflow-dag-sync: error: unrecognized arguments: --onse (did you mean --once?)" \
        in sync.stderr and sync.stderr.count("airflow-dag-sync: error") == 1


def test_a_mistyped_choice_names_the_closest_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert publisher_main.main(["validate", "--package", "p", "--format", "jsn"]) == 2
    assert "argument --format: invalid choice: 'jsn' (did you mean json?)" in capsys.readouterr().err


def test_help_command_prints_a_commands_help_and_suggests_a_mistyped_one() -> None:
    done = _run("help", "publish")
    assert done.returncode == 0 and done.stdout == _run("publish", "--help").stdout
    assert done.stdout.startswith("usage: airflow-dag-publisher publish")
    assert _run("help").stdout == _run("--help").stdout
    wrong = _run("help", "pubish")
    assert wrong.returncode == 2 and "unknown command 'pubish' (did you mean publish?)" in wrong.stderr


def test_every_command_has_a_description_examples_and_its_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    for name in publisher_main.COMMANDS:
        assert publisher_main.main([name, "--help"]) == 0
        text = capsys.readouterr().out
        description = text.split("\n\n")[1]
        assert len(description) > 40 and not description.startswith(("options:", "positional")), (name, text)
        examples = text[text.index("\nexamples:\n"):text.index("\nexit status:\n")]
        assert examples.count(f"airflow-dag-publisher {name} ") >= 1, (name, text)
        statuses = text[text.index("\nexit status:\n"):]
        assert "  0  " in statuses and "  2  " in statuses and "  4  " in statuses, (name, text)


def test_validate_and_generate_speak_json_and_their_errors_too(tmp_path: Path) -> None:
    missing = _run("validate", "--package", "p", "--source", str(tmp_path / "nowhere"), "--format", "json")
    assert missing.returncode == 2 and missing.stderr == ""
    assert json.loads(missing.stdout)["error"]["kind"] == "usage"
    assert json.loads(_run("validate", "--package", "p", "--source", str(tmp_path / "x"), "--json").stdout)["error"]
    (tmp_path / "p_a.py").write_text("x = 1\n")
    report = _run("validate", "--package", "p", "--source", str(tmp_path), "--no-dynamic", "--no-ruff", "--json")
    assert report.returncode == 0 and json.loads(report.stdout)["ok"] is True
    args = ["generate", "--package", "acme", "--name", "load", "--image", "registry.example.com/acme:1.0",
            "--output-dir", str(tmp_path / "dags")]
    made = _run(*args, "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["files"] == [{"path": str(tmp_path / "dags" / "acme_load.py"), "action": "created"}]
    check = _run(*args, "--check", "--json")
    assert check.returncode == 0 and json.loads(check.stdout)["up_to_date"] is True
    (tmp_path / "dags" / "acme_load.py").write_text("# edited\n")
    stale = _run(*args, "--check", "--json")
    error = json.loads(stale.stdout)["error"]
    assert stale.returncode == 1 and error["details"]["up_to_date"] is False and error["details"]["problems"]


def test_the_agent_accepts_v(tmp_path: Path) -> None:
    args = sync_main.build_parser({}).parse_args(["-v", "--bucket", "b"])
    assert args.verbose is True
    assert sync_main.build_parser({"DAGSYNC_VERBOSE": "true"}).parse_args([]).verbose is True
