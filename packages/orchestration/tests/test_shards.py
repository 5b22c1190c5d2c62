"""The rule that assigns packages to dag-processor shards: disjoint and complete, stable, even enough,
and moving only what must move when the number of shards changes (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow_dag_publisher import shards
from airflow_dag_publisher.shards import assign, shard_of

FLEET = [f"team{n:04d}_jobs" for n in range(1000)]


def test_every_package_is_in_exactly_one_shard() -> None:
    got = assign(FLEET + FLEET[:10], 4)
    flat = [p for shard in got for p in shard]
    assert sorted(flat) == sorted(FLEET) and len(flat) == len(set(flat))
    assert all(shard == sorted(shard) for shard in got)
    assert all(shard_of(p, 4) == k for k, shard in enumerate(got) for p in shard)


def test_one_shard_holds_everything() -> None:
    assert assign(FLEET, 1) == [sorted(FLEET)]


def test_packages_spread_evenly() -> None:
    sizes = [len(s) for s in assign(FLEET, 4)]
    assert min(sizes) >= 200 and max(sizes) <= 300, sizes


def test_the_answer_depends_on_the_name_and_the_count_only() -> None:
    assert [shard_of(p, 5) for p in FLEET[:50]] == [shard_of(p, 5) for p in FLEET[:50]]
    assert shard_of("pipeline_processing", 3) == shard_of("pipeline_processing", 3)


def test_adding_a_shard_moves_only_packages_to_the_new_shard() -> None:
    before = {p: shard_of(p, 4) for p in FLEET}
    after = {p: shard_of(p, 5) for p in FLEET}
    moved = [p for p in FLEET if before[p] != after[p]]
    assert all(after[p] == 4 for p in moved)
    assert 120 <= len(moved) <= 280, len(moved)  # about a fifth


def test_a_shard_count_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"shards must be 1\.\.64"):
        shard_of("alpha", 0)


def test_the_command_prints_each_shard_of_the_package_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    packages = tmp_path / "packages.yaml"
    packages.write_text("allowed_registries: [registry.example.com]\npackages:\n"
                        + "".join(f"  - name: {p}\n" for p in FLEET[:20]))
    assert shards.main(["--shards", "3", "--packages-file", str(packages)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["0", "1", "2"]
    assert sorted(p for line in lines for p in line.split(":", 1)[1].split()) == sorted(FLEET[:20])
    (tmp_path / "bad.yaml").write_text("packages: 3\n")
    assert shards.main(["--shards", "3", "--packages-file", str(tmp_path / "bad.yaml")]) == 2
