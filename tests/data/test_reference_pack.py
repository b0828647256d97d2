"""Reference-pack manifest: loading, validation, checksum mismatch, statuses."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lips_testdata import lj, make_pack  # noqa: E402

from pytest_lips.data import DataUnavailable  # noqa: E402
from pytest_lips.errors import LipsDataError  # noqa: E402
from pytest_lips.reference import load_reference_pack, task1_structure_names, write_manifest  # noqa: E402


@pytest.fixture(scope="module")
def pack_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("pack")
    make_pack(root, lj())
    return root


def test_load_pack(pack_dir):
    pack = load_reference_pack(pack_dir)
    assert pack.key == "test-pack@0.1"
    assert [e.name for e in pack.task1_entries(include_unavailable=False)] == [
        "Li2S",
        "P2S5",
        "beta-Li3PS4",
        "Li7P3S11",
        "Li4P2S7",
        "HT-Li7PS6",
    ]
    missing = pack.task1_entry("alpha-Li3PS4")
    assert not missing.available and missing.reason == "no open coordinates"
    assert pack.task1_end_member("Li2S").name == "Li2S"
    li2s = pack.task1_entry("Li2S").atoms()
    assert li2s.get_chemical_formula() == "Li4S2" and np.isfinite(li2s.get_potential_energy())
    frames = pack.task2_frames()
    assert len(frames) == 9 and {f.info["regime"] for f in frames} == {"crystal", "liquid", "amorphous"}
    assert pack.task3 is not None and pack.task3.status == "pending"
    with pytest.raises(DataUnavailable, match="pending"):  # SKIPPED with the reason, not an error
        pack.task3_structure()
    assert pack.data is None and pack.data_file() is None
    assert task1_structure_names(pack_dir)[-1] == "alpha-Li3PS4"
    assert pack.method_for("task1/Li2S.extxyz")["functional"] == "none"


def test_checksum_mismatch_names_file(pack_dir, tmp_path):
    import shutil

    copy = tmp_path / "pack"
    shutil.copytree(pack_dir, copy)
    target = copy / "task1" / "P2S5.extxyz"
    target.write_text(target.read_text().replace("P ", "P  ", 1))
    with pytest.raises(LipsDataError, match=r"P2S5\.extxyz has sha256 .* re-generate the pack"):
        load_reference_pack(copy)
    # refreshing the checksums repairs it
    manifest = yaml.safe_load((copy / "manifest.yaml").read_text())
    write_manifest(copy, manifest)
    assert load_reference_pack(copy).task1_entry("P2S5").available


def test_schema_and_required_keys(pack_dir, tmp_path):
    import shutil

    copy = tmp_path / "pack"
    shutil.copytree(pack_dir, copy)
    manifest = yaml.safe_load((copy / "manifest.yaml").read_text())
    bad = dict(manifest, schema_version=2)
    (copy / "manifest.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(LipsDataError, match="schema_version 2"):
        load_reference_pack(copy)
    bad = {k: v for k, v in manifest.items() if k != "units"}
    (copy / "manifest.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(LipsDataError, match=r"missing required keys \['units'\]"):
        load_reference_pack(copy)
    bad = dict(manifest, files=[f for f in manifest["files"] if "Li2S" not in f["path"]])
    (copy / "manifest.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(LipsDataError, match="not listed under files"):
        load_reference_pack(copy)


def test_no_manifest_is_unavailable(tmp_path):
    with pytest.raises(DataUnavailable, match="manifest.yaml"):
        load_reference_pack(tmp_path)
    assert task1_structure_names(tmp_path) == []
