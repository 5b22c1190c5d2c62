"""Literals come out exactly as `ruff format` would write them, and mean what the spec said."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from airflow_dag_publisher.generator.pyformat import Call, Code, kwarg, py_str, timedelta_code

from .support import ruff

TRICKY = ["plain", 'say "hi"', "it's", "both ' and \"", 'more "" than \'', "back\\slash", "new\nline", "tab\t",
          "ünïcode — ok", "emoji 🎉", "wide 漢字", "bell\x07", "nul\x00", "{{ ds }}", "#not a comment", ""]


@pytest.mark.parametrize("text", TRICKY)
def test_string_literals_evaluate_to_the_original_text(text: str) -> None:
    assert ast.literal_eval(py_str(text)) == text


def test_layouts_are_stable_under_ruff_format(tmp_path: Path) -> None:
    values = {
        "short": ["a", "b"],
        "strings": TRICKY,
        "long_list": [f"--option-{i}=value" for i in range(12)],
        "long_word": ["x" * 150],
        "long_words": ["x " * 70],
        "url": ["https://example.com/" + "p" * 130],
        "mapping": {"KEY": "value", "QUOTE": 'a "b"', "LONG": "y " * 60},
        "calls": [Call("k8s.V1Toleration", (("key", "a"), ("operator", "Exists"))),
                  Call("k8s.V1Toleration", tuple((f"field_{i}", "v" * 10) for i in range(8)))],
        "nested": {"outer": {"inner": ["v" * 40, "w" * 40, "z" * 40]}},
        "code": {"delay": timedelta_code(5400), "zero": timedelta_code(0), "flag": True, "none": None, "n": 3},
        "empty": {"list": [], "dict": {}},
    }
    body = "\n".join(kwarg(name, value, 4) for name, value in values.items())
    source = f"from datetime import timedelta\n\nk8s = None\nresult = dict(\n{body}\n)\n"
    path = tmp_path / "layout.py"
    path.write_text(source)
    fmt = ruff("format", "--check", "--diff", str(path))
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    lint = ruff("check", "--no-cache", "--select", "E501,RUF100", str(path))
    assert lint.returncode == 0, lint.stdout


@pytest.mark.parametrize(("seconds", "code"), [(0, "timedelta(0)"), (90, "timedelta(minutes=1, seconds=30)"),
                                               (3600, "timedelta(hours=1)"), (90061, "timedelta(days=1, hours=1, "
                                                                                      "minutes=1, seconds=1)")])
def test_durations_render_in_the_largest_units(seconds: int, code: str) -> None:
    assert timedelta_code(seconds) == Code(code)
