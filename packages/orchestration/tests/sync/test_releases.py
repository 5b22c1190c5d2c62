"""The local layout (sync/releases.py) as Airflow walks it: the swap's temporary link lives beside
the package link, and the agent's .airflowignore keeps Airflow's own walk out of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from airflow_dag_publisher.sync.releases import AIRFLOWIGNORE, TEMP_LINK_MARK, Layout


def _release(layout: Layout, package: str, name: str, body: str) -> None:
    root = layout.files_path(package, name)
    root.mkdir(parents=True)
    (root / f"{package}_dag.py").write_text(body)


def test_airflows_walk_skips_a_temporary_link_and_sees_each_release_once(tmp_path: Path) -> None:
    from airflow._shared.module_loading.file_discovery import find_path_from_directory

    layout = Layout(tmp_path / "dags")
    layout.prepare()
    try:
        _release(layout, "alpha", "old", "# from airflow import DAG\n")
        _release(layout, "alpha", "new", "# from airflow import DAG\n")
        layout.swap("alpha", "old")
        # The instant of a swap: the new link exists beside the old one, not yet renamed over it.
        tmp = layout.dags_dir / f".alpha{TEMP_LINK_MARK}0123456789ab"
        os.symlink(layout.link_target("alpha", "new"), tmp)
        for syntax in ("glob",):
            seen = sorted(find_path_from_directory(str(layout.dags_dir), ".airflowignore", syntax))
            assert seen == [str(layout.dags_dir / "alpha" / "alpha_dag.py")], seen
        assert (layout.dags_dir / ".airflowignore").read_text() == AIRFLOWIGNORE
    finally:
        layout.unlock()


def test_a_swap_leaves_only_the_package_link_and_a_restart_clears_stray_temporary_links(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "dags")
    layout.prepare()
    _release(layout, "alpha", "r1", "x = 1\n")
    _release(layout, "alpha", "r2", "x = 2\n")
    layout.swap("alpha", "r1")
    layout.swap("alpha", "r2")
    assert sorted(os.listdir(layout.dags_dir)) == [".airflowignore", "alpha"]
    assert (layout.dags_dir / "alpha" / "alpha_dag.py").read_text() == "x = 2\n"
    stray = layout.dags_dir / f".alpha{TEMP_LINK_MARK}deadbeef0000"  # a crash between symlink and rename
    os.symlink(layout.link_target("alpha", "r1"), stray)
    layout.unlock()
    again = Layout(tmp_path / "dags")
    again.prepare()
    try:
        assert sorted(os.listdir(again.dags_dir)) == [".airflowignore", "alpha"]
    finally:
        again.unlock()


def test_a_package_path_that_is_not_our_link_is_not_replaced(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "dags")
    layout.prepare()
    try:
        _release(layout, "alpha", "r1", "x = 1\n")
        (layout.dags_dir / "alpha").mkdir()
        with pytest.raises(Exception, match="not a symlink made by airflow-dag-sync") as caught:
            layout.swap("alpha", "r1")
        assert getattr(caught.value, "kind", None) == "not_owned"
        assert not any(TEMP_LINK_MARK in n for n in os.listdir(layout.dags_dir))
    finally:
        layout.unlock()


def test_the_package_link_names_its_release_and_the_release_root_holds_only_the_package(tmp_path: Path) -> None:
    """One readlink(2) of <dags>/<package> gives the release id (the release directory's name) and
    where its files are; the release's root, as Airflow puts a bundle's path on sys.path, imports
    `<package>.<module>` from that release."""
    layout = Layout(tmp_path / "dags")
    layout.prepare()
    try:
        _release(layout, "alpha", "20260101T000000Z-0123456789ab", "x = 1\n")
        layout.swap("alpha", "20260101T000000Z-0123456789ab")
        target = os.readlink(layout.dags_dir / "alpha")
        assert not os.path.isabs(target)
        assert Path(target).parts[-3:] == ("alpha", "20260101T000000Z-0123456789ab", "alpha")
        root = (layout.dags_dir / target).parent.resolve()
        assert root == layout.release_path("alpha", "20260101T000000Z-0123456789ab").resolve()
        assert os.listdir(root) == ["alpha"]
    finally:
        layout.unlock()
