"""What the sdist and the wheel ship (issue 11 §10): the MPL-2.0 text and its declaration in the metadata.
Built offline with hatchling's own hooks, as `python -m build` would (minus the isolated environment)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    code = (
        "import sys; from hatchling.build import build_sdist, build_wheel; "
        "print(build_sdist(sys.argv[1])); print(build_wheel(sys.argv[1]))"
    )
    subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT, check=True, capture_output=True, timeout=300)
    return out


def test_the_repository_holds_the_mpl_2_0_text():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("Mozilla Public License Version 2.0\n")
    assert "Exhibit A - Source Code Form License Notice" in text
    assert 'Exhibit B - "Incompatible With Secondary Licenses" Notice' in text


def test_the_wheel_ships_the_license_and_declares_it(dist: Path):
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (license_name,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert zf.read(license_name).decode() == (ROOT / "LICENSE").read_text()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(zf.read(metadata_name).decode())
    assert metadata["License-Expression"] == "MPL-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]


def test_the_sdist_ships_the_license(dist: Path):
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as tf:
        (member,) = [m for m in tf.getmembers() if m.name.count("/") == 1 and m.name.endswith("/LICENSE")]
        assert tf.extractfile(member).read().decode() == (ROOT / "LICENSE").read_text()
