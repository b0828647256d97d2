"""Loader, cache, categories and splits of the LiPS-25 data set, on small files written here."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lips_testdata import LABELS, lj, write_dataset  # noqa: E402

from pytest_lips.data import (  # noqa: E402
    CacheRebuiltWarning,
    DataUnavailable,
    label_category,
    load_lips_dataset,
    stratified_split,
)
from pytest_lips.errors import LipsDataError  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("lips")
    model = lj()
    frames_nosplit = write_dataset(root / "nosplit.extxyz", model, n_per_label=10, with_split=False, seed=0)
    frames_split = write_dataset(root / "split.extxyz", model, n_per_label=10, with_split=True, seed=1)
    return root, frames_nosplit, frames_split


def test_label_categories():
    assert label_category("Iter1-3") == "iter1"
    assert label_category("Iter2-5") == "iter2"
    assert label_category("iter_2") == "iter2"
    assert label_category("Iter12-1") == "other"
    assert label_category("dimer_Li-S") == "dimers"
    assert label_category("hard_spheres_LiPS") == "random_hard_spheres"
    assert label_category("AIMD_Li7P3S11") == "aimd"
    assert label_category("crystalline_Li3PS4") == "crystalline"
    assert label_category("something else") == "other"


def test_load_without_split_matches_file(files, tmp_path):
    root, frames, _ = files
    ds = load_lips_dataset(root / "nosplit.extxyz", tmp_path / "cache", allow_download=False)
    assert len(ds) == len(frames) == 60
    assert not ds.loaded_from_cache and ds.split_source.startswith("stratified")
    for i in (0, 17, 59):
        a = ds.atoms(i)
        ref = frames[i]
        assert a.get_potential_energy() == pytest.approx(ref.calc.results["energy"])
        np.testing.assert_allclose(a.get_forces(), ref.calc.results["forces"], atol=1e-7)
        np.testing.assert_allclose(a.positions, ref.positions, atol=1e-7)
        assert a.info["label"] == ref.info["label"]
        # virial -> stress = -virial / V
        np.testing.assert_allclose(a.get_stress(voigt=False), -ref.info["virial"] / ref.get_volume(), atol=1e-9)
    assert set(ds.categories) == {"crystalline", "aimd", "random_hard_spheres", "dimers", "iter1", "iter2"}
    assert ds.n_atoms.sum() == ds.total_atoms == sum(len(f) for f in frames)
    # second load uses the cache and gives identical arrays
    again = load_lips_dataset(root / "nosplit.extxyz", tmp_path / "cache", allow_download=False)
    assert again.loaded_from_cache
    np.testing.assert_array_equal(again.forces, ds.forces)
    np.testing.assert_array_equal(again.split, ds.split)
    np.testing.assert_array_equal(again.labels, ds.labels)


def test_split_from_file(files, tmp_path):
    root, _, frames = files
    ds = load_lips_dataset(root / "split.extxyz", tmp_path, allow_download=False)
    assert ds.split_source == "file"
    expected = np.array([f.info["split"] for f in frames])
    assert list(ds.test_indices) == list(np.flatnonzero(expected == "test"))
    assert list(ds.val_indices) == list(np.flatnonzero(expected == "val"))
    assert len(ds.train_indices) == 48


def test_stratified_split_is_stable_and_stratified():
    labels = [f"L{k % 7}" for k in range(7000)] + ["tiny"] * 3
    a = stratified_split(labels, seed=5)
    b = stratified_split(list(reversed(labels))[::-1], seed=5)  # same list rebuilt
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, stratified_split(labels, seed=6))
    lab = np.array(labels)
    for name in {f"L{k}" for k in range(7)}:
        members = a[lab == name]
        assert np.sum(members == 2) == 100 and np.sum(members == 1) == 100 and np.sum(members == 0) == 800
    assert np.all(a[lab == "tiny"] == 0)
    # a label's split does not depend on the other labels present
    only_l1 = stratified_split([x for x in labels if x == "L1"], seed=5)
    np.testing.assert_array_equal(only_l1, a[lab == "L1"])


def test_split_identical_in_subprocess_with_other_hash_seed(files, tmp_path):
    import subprocess

    root, _, _ = files
    code = (
        "import sys; from pytest_lips.data import load_lips_dataset; "
        f"ds = load_lips_dataset(r'{root / 'nosplit.extxyz'}', r'{tmp_path}/c' + sys.argv[1], False); "
        "print(','.join(map(str, ds.test_indices)))"
    )
    outs = []
    for seed in ("1", "2"):
        env = {**__import__("os").environ, "PYTHONHASHSEED": seed}
        outs.append(
            subprocess.run(
                [sys.executable, "-c", code, seed], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
    assert outs[0] == outs[1] and outs[0].strip()


def test_truncated_file_names_frame(files, tmp_path):
    root, frames, _ = files
    lines = (root / "nosplit.extxyz").read_text().splitlines()
    bad = tmp_path / "truncated.extxyz"
    bad.write_text("\n".join(lines[:-2]) + "\n")
    with pytest.raises(LipsDataError, match=r"truncated\.extxyz.*frame 59"):
        load_lips_dataset(bad, tmp_path / "cache", allow_download=False)


def test_missing_forces_and_energy(tmp_path):
    import ase.io
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    ok = Atoms("LiS", positions=[[0, 0, 0], [0, 0, 2.3]], cell=np.eye(3) * 8, pbc=True)
    ok.calc = SinglePointCalculator(ok, energy=-1.0, forces=np.zeros((2, 3)))
    ok.info["label"] = "Iter1-1"
    no_forces = ok.copy()
    no_forces.calc = SinglePointCalculator(no_forces, energy=-2.0)
    ase.io.write(tmp_path / "nof.extxyz", [ok, ok, no_forces], format="extxyz")
    with pytest.raises(LipsDataError, match=r"nof\.extxyz: frame 2 has no forces"):
        load_lips_dataset(tmp_path / "nof.extxyz", tmp_path / "c", allow_download=False)
    no_energy = ok.copy()
    no_energy.calc = SinglePointCalculator(no_energy, forces=np.zeros((2, 3)))
    ase.io.write(tmp_path / "noe.extxyz", [no_energy, ok], format="extxyz")
    with pytest.raises(LipsDataError, match=r"frame 0 has no energy"):
        load_lips_dataset(tmp_path / "noe.extxyz", tmp_path / "c", allow_download=False)


@pytest.mark.parametrize("damage", ["garbage", "flip-bytes", "wrong-version"])
def test_corrupt_cache_is_rebuilt_with_warning(files, tmp_path, damage):
    root, _, _ = files
    ds = load_lips_dataset(root / "nosplit.extxyz", tmp_path, allow_download=False)
    cache = ds.cache_path
    assert cache is not None and cache.is_file()
    if damage == "garbage":
        cache.write_bytes(b"not a zip file")
    elif damage == "flip-bytes":
        with np.load(cache) as npz:
            arrays = {k: npz[k] for k in npz.files}
        arrays["forces"] = arrays["forces"].copy()
        arrays["forces"][3, 1] += 1.0  # same shape, wrong content
        np.savez(cache, **arrays)
    else:
        import json

        with np.load(cache) as npz:
            arrays = {k: npz[k] for k in npz.files}
        meta = json.loads(str(arrays["meta"][()]))
        meta["cache_version"] = -1
        arrays["meta"] = np.array(json.dumps(meta))
        np.savez(cache, **arrays)
    with pytest.warns(CacheRebuiltWarning):
        rebuilt = load_lips_dataset(root / "nosplit.extxyz", tmp_path, allow_download=False)
    assert not rebuilt.loaded_from_cache
    np.testing.assert_array_equal(rebuilt.forces, ds.forces)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_lips_dataset(root / "nosplit.extxyz", tmp_path, allow_download=False).loaded_from_cache


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(LipsDataError, match="does not exist"):
        load_lips_dataset(tmp_path / "nope.extxyz", tmp_path, allow_download=False)


def test_no_source_is_data_unavailable(tmp_path):
    with pytest.raises(DataUnavailable, match="--lips-data"):
        load_lips_dataset(None, tmp_path, allow_download=False)


def test_network_failure_is_data_unavailable(tmp_path, monkeypatch):
    import load_atoms

    def boom(*args, **kwargs):
        raise ConnectionError("network unreachable")

    monkeypatch.setattr(load_atoms, "load_dataset", boom)
    with pytest.raises(DataUnavailable, match="network unreachable"):
        load_lips_dataset(None, tmp_path, allow_download=True)


def test_load_atoms_path_converts_and_caches(files, tmp_path, monkeypatch):
    import ase.io
    import load_atoms

    root, frames, _ = files
    calls = []

    def fake(name, root=None):
        calls.append((name, root))
        structures = ase.io.read(str(files[0] / "nosplit.extxyz"), ":")
        from load_atoms.utils import remove_calculator

        for s in structures:  # load-atoms moves results into info/arrays
            remove_calculator(s)
        return structures

    monkeypatch.setattr(load_atoms, "load_dataset", fake)
    ds = load_lips_dataset(None, tmp_path, allow_download=True)
    assert calls == [("LiPS-25", tmp_path / "load-atoms")]
    assert len(ds) == len(frames) and ds.source == "load-atoms:LiPS-25"
    # second call: served from the cache without load-atoms (offline)
    monkeypatch.setattr(load_atoms, "load_dataset", lambda *a, **k: pytest.fail("should use the cache"))
    again = load_lips_dataset(None, tmp_path, allow_download=False)
    assert again.loaded_from_cache
    np.testing.assert_array_equal(again.energies, ds.energies)
    assert sorted(set(ds.labels)) == sorted(LABELS)


# -- the data set's facts come from the pack (system.dataset) ------------------------------------------------
def test_data_set_spec_rules_titles_and_default_category():
    from pytest_lips.data import DataSetSpec

    spec = DataSetSpec.from_section(
        {
            "name": "Toy-3",
            "categories": ["melts", "crystals", "rest"],
            "category_titles": {"melts": "MD melts"},
            "category_rules": [{"category": "melts", "pattern": "melt"}, {"category": "crystals", "pattern": "^x"}],
        },
        "toy/manifest.yaml",
    )
    assert spec.default_category == "rest"  # the last category unless stated
    assert [spec.label_category(s) for s in ("Melt-1", "X_12", "melt_x", "other")] == [
        "melts",
        "crystals",
        "melts",
        "rest",
    ]
    assert spec.title("melts") == "MD melts" and spec.title("crystals") == "crystals"
    assert not spec.is_full_data_set_file("toy-3.extxyz")  # no file_name_pattern: never compared with Table 1
    assert spec.splits == ("train", "val", "test")


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"name": ""}, "system.dataset needs a name"),
        (
            {"category_rules": [{"category": "nope", "pattern": "x"}]},
            r"category_rules\[0\]: 'nope' is not in categories",
        ),
        (
            {"category_rules": [{"category": "a", "pattern": "("}]},
            r"category_rules\[0\] needs category and a valid regex",
        ),
        ({"default_category": "zzz"}, "default_category 'zzz' is not in categories"),
        ({"splits": ["train", "holdout"]}, r"splits \['holdout'\] are not train, val or test"),
        ({"table1_totals": {"structures": "many"}}, "table1_totals must map names to whole numbers"),
    ],
)
def test_bad_data_set_section_is_one_line_naming_the_key(changes, match):
    from pytest_lips.data import DataSetSpec

    section = {"name": "Toy", "categories": ["a", "b"], **changes}
    with pytest.raises(LipsDataError, match=match) as info:
        DataSetSpec.from_section(section, "toy/manifest.yaml")
    assert str(info.value).startswith("toy/manifest.yaml: ") and "\n" not in str(info.value)


def test_a_system_without_a_data_set_is_data_unavailable_naming_the_pack(tmp_path):
    from pytest_lips.data import DataUnavailable
    from pytest_lips.system import read_pack_system, resolve_pack

    system = read_pack_system(resolve_pack("li6ps5cl-open-pbesol"))
    assert system.pack == "li6ps5cl-open-pbesol" and not system.dataset
    with pytest.raises(DataUnavailable, match="pack li6ps5cl-open-pbesol declares no data set"):
        load_lips_dataset(None, tmp_path, allow_download=False, system=system)
