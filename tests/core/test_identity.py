"""Result identity (pytest_lips.identity) and the inputs it depends on: pack, data file, model, protocol."""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))

from lips_testdata import lj, make_pack, write_dataset

from pytest_lips import identity
from pytest_lips.analysis.offsets import (
    RankDeficientOffsetsWarning,
    fit_element_offsets,
)
from pytest_lips.data import (
    DataDriftWarning,
    file_sha256,
    file_sha256_memo,
    load_lips_dataset,
)
from pytest_lips.errors import LipsUsageError
from pytest_lips.models import factory_model_name, load_lips_model, model_stem
from pytest_lips.reference import load_reference_pack, write_manifest
from pytest_lips.report.baseline import Baseline, baseline_dict, load_baseline
from pytest_lips.report.json_report import check_writable, write_report

CONTEXT = identity.ResultContext(
    plugin_version="0.1.0", protocol_version="1/1", profile="ci", device="cpu", engine="ase", seed=0, pack="a" * 64
)

FACTORIES = """
from ase.calculators.lj import LennardJones


def zero():
    return LennardJones(sigma=2.0, epsilon=1e-9, rc=5.0)


def huge(device="cpu"):
    return LennardJones(sigma=2.0, epsilon=0.5, rc=5.0)
"""


def test_canonical_json_and_protocol_checksum() -> None:
    assert identity.canonical_json({"b": 1, "a": (1.0, float("nan"))}) == '{"a":[1.0,null],"b":1}'
    assert identity.protocol_checksum({"x": 1, "y": 2}) == identity.protocol_checksum({"y": 2, "x": 1})
    assert identity.protocol_checksum({"x": 1}) != identity.protocol_checksum({"x": 2})


def test_result_key_holds_every_input() -> None:
    base = identity.result_key("file:abc", CONTEXT, ["task3-run", "T600K-r1"])
    assert base == identity.result_key("file:abc", CONTEXT, ["task3-run", "T600K-r1"])
    assert "pack=" + "a" * identity.DIGEST_CHARS in base and "engine=ase" in base and base.endswith("T600K-r1")
    variants = [
        identity.result_key("file:abd", CONTEXT, ["task3-run", "T600K-r1"]),
        identity.result_key("file:abc", CONTEXT, ["task3-run", "T700K-r1"]),
    ]
    for field, value in (
        ("pack", "b" * 64),
        ("data", "d/file"),
        ("engine", "torch-sim 0.6"),
        ("seed", 1),
        ("protocol", "p"),
        ("device", "cuda"),
        ("plugin_version", "0.2.0"),
    ):
        changed = identity.ResultContext(**{**CONTEXT.__dict__, field: value})
        variants.append(identity.result_key("file:abc", changed, ["task3-run", "T600K-r1"]))
    assert len(set(variants)) == len(variants) and base not in variants


def test_editing_a_pack_file_and_its_manifest_changes_the_checksum(tmp_path: Path) -> None:
    manifest = make_pack(tmp_path, lj())
    before = identity.pack_checksum(load_reference_pack(tmp_path))
    assert before == identity.pack_checksum(load_reference_pack(tmp_path))  # deterministic
    import ase.io

    frames = ase.io.read(str(tmp_path / "task2" / "li7p3s11_melt_quench.extxyz"), index=":")
    for atoms in frames:  # Task-2 forces x 3, as issue 17 did
        atoms.calc.results["forces"] = 3 * atoms.get_forces()
    ase.io.write(str(tmp_path / "task2" / "li7p3s11_melt_quench.extxyz"), frames, format="extxyz")
    write_manifest(tmp_path, manifest)  # refreshed checksums: the pack loads again
    pack = load_reference_pack(tmp_path)
    after = identity.pack_checksum(pack)
    assert pack.key == "test-pack@0.1" and after != before  # same name@version, new content

    def key(c: str) -> str:
        return identity.result_key("m", identity.ResultContext(**{**CONTEXT.__dict__, "pack": c}), ["t"])

    assert key(before) != key(after)


@pytest.fixture
def factories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "idmod.py").write_text(FACTORIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("idmod", None)
    return "idmod"


def test_two_factories_of_one_module_have_different_identities(factories: str) -> None:
    zero = load_lips_model(f"{factories}:zero")
    huge = load_lips_model(f"{factories}:huge")
    assert zero.sha256 == huge.sha256  # same module source: the old identity could not tell them apart
    ids = identity.model_identity(zero), identity.model_identity(huge)
    assert ids[0] != ids[1]
    assert ids[0].startswith("factory:idmod:zero|kwargs={}") and '"device":"cpu"' in ids[1]
    assert identity.model_identity(load_lips_model(f"{factories}:zero")) == ids[0]  # stable across loads
    assert zero.describe()["probe_fingerprint"] == zero.probe_fingerprint
    assert (zero.name, huge.name) == ("idmod.zero", "idmod.huge")


def test_factory_names() -> None:
    assert factory_model_name("examples.chgnet_factory:make_calculator") == "chgnet_factory.make_calculator"
    assert model_stem("mymod:make") == "mymod.make"
    assert model_stem("/some/where/model-v2.pt") == "model-v2"


def test_probe_fingerprint_ignores_noise_not_differences() -> None:
    from ase.calculators.lj import LennardJones

    a = identity.probe_fingerprint(LennardJones(sigma=2.0, epsilon=0.1, rc=5.0))
    assert a == identity.probe_fingerprint(LennardJones(sigma=2.0, epsilon=0.1 * (1 + 1e-12), rc=5.0))
    assert a != identity.probe_fingerprint(LennardJones(sigma=2.0, epsilon=0.1001, rc=5.0))


def test_data_memo_sees_in_place_edits_with_restored_mtime(tmp_path: Path) -> None:
    path = tmp_path / "data.extxyz"
    path.write_text("energy=-1.2345\n")
    cache = tmp_path / "cache"
    first = file_sha256_memo(path, cache)
    stat = path.stat()
    with open(path, "r+") as handle:  # same size, same inode
        handle.write("energy=-1.2346\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    second = file_sha256_memo(path, cache)
    assert second != first and second == file_sha256(path)


def test_fresh_rehashes_whatever_the_memo_says(tmp_path: Path) -> None:
    path = tmp_path / "data.extxyz"
    path.write_text("x")
    cache = tmp_path / "cache"
    true_sha = file_sha256_memo(path, cache)
    memo = next((cache / "sha256-memo").iterdir())
    ident, _ = memo.read_text().split()
    memo.write_text(f"{ident} {'0' * 64}\n")  # a memo that lies
    assert file_sha256_memo(path, cache) == "0" * 64  # trusted without fresh (same stat)
    assert file_sha256_memo(path, cache, fresh=True) == true_sha


def test_rank_deficient_offsets_warn() -> None:
    comp = np.array([[7.0, 3.0, 11.0], [14.0, 6.0, 22.0]])  # one composition (Li7P3S11)
    with pytest.warns(RankDeficientOffsetsWarning, match="rank 1 < 3"):
        fitted = fit_element_offsets(comp @ [1.0, 2.0, 3.0], np.zeros(2), comp, (3, 15, 16))
    assert fitted.rank_deficient and fitted.to_dict()["rank_deficient"] is True
    comp = np.array([[2.0, 0.0, 1.0], [0.0, 2.0, 5.0], [1.0, 1.0, 1.0]])  # not all on the Li2S-P2S5 line
    with warnings.catch_warnings():
        warnings.simplefilter("error", RankDeficientOffsetsWarning)
        fitted = fit_element_offsets(comp @ [1.0, 2.0, 3.0], np.zeros(3), comp, (3, 15, 16))
    assert not fitted.rank_deficient
    assert [fitted.values_eV[z] for z in (3, 15, 16)] == pytest.approx([1.0, 2.0, 3.0])


def test_small_file_named_lips25_warns_about_table1(tmp_path: Path) -> None:
    path = tmp_path / "LiPS-25.extxyz"
    write_dataset(path, lj(), n_per_label=2)
    with pytest.warns(DataDriftWarning, match="12,525 in the paper"):
        dataset = load_lips_dataset(path, tmp_path / "cache", allow_download=False)
    assert dataset.notes and "not comparable" in dataset.describe()["notes"][0]
    import dataclasses

    from pytest_lips.data import default_data_set

    # Table 1 is the pack's (system.dataset): a data set whose Table 1 matches the file draws no warning
    spec = dataclasses.replace(
        default_data_set(), table1_totals={"structures": len(dataset), "atoms": dataset.total_atoms}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataDriftWarning)
        assert not load_lips_dataset(path, tmp_path / "cache", allow_download=False, spec=spec).notes
    counts = dataset.category_counts()
    spec = dataclasses.replace(spec, table1_category_counts={"dimers": counts["dimers"] + 1})
    with pytest.warns(DataDriftWarning, match="dimers structures"):
        load_lips_dataset(path, tmp_path / "cache", allow_download=False, spec=spec)
    other = tmp_path / "mine.extxyz"
    write_dataset(other, lj(), n_per_label=2)
    with warnings.catch_warnings():  # a file not named LiPS-25 is not compared with the paper
        warnings.simplefilter("error", DataDriftWarning)
        load_lips_dataset(other, tmp_path / "cache", allow_download=False)


def _baseline_file(tmp_path: Path, **changes) -> Path:
    data = {
        "schema_version": 1,
        "kind": "pytest-lips-baseline",
        "protocol_version": "1",
        "profile": "ci",
        "models": [{"name": "m"}],
        "metrics": {"m": {"task2.force_rmse": {"value": 0.1, "unit": "eV/Å"}}},
    }
    data.update(changes)
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"metrics": "oops"}, "must be an object"),
        ({"metrics": {"m": ["x"]}}, "must map metric keys"),
        ({"metrics": {}}, "holds no metrics"),
        ({"metrics": {"m": {}}}, "holds no metrics"),
        ({"interrupted": True}, "interrupted run"),
    ],
)
def test_bad_baselines_are_usage_errors(tmp_path: Path, changes: dict, message: str) -> None:
    path = _baseline_file(tmp_path, **changes)
    with pytest.raises(LipsUsageError, match=message) as info:
        load_baseline(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_baseline_must_cover_the_models_under_test(tmp_path: Path) -> None:
    metrics = {"a": {"k.x": {"value": 1.0}}, "b": {"k.x": {"value": 2.0}}}
    two = load_baseline(_baseline_file(tmp_path, metrics=metrics))
    two.check_covers(["a", "b"])
    with pytest.raises(LipsUsageError, match="no metric for model 'c'.*models in it: a, b"):
        two.check_covers(["a", "c"])
    load_baseline(_baseline_file(tmp_path)).check_covers(["anything"])  # one model: compared with it


def test_interrupted_report_is_not_a_baseline(tmp_path: Path) -> None:
    with pytest.raises(LipsUsageError, match="interrupted"):
        baseline_dict({"interrupted": True, "results": {}})
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"schema_version": 1, "results": {}, "interrupted": True}))
    with pytest.raises(LipsUsageError, match="interrupted run"):
        load_baseline(report)


def test_comparison_across_packs_says_so() -> None:
    from pytest_lips.results import Metric
    from pytest_lips.thresholds import default_thresholds
    from pytest_lips.tolerances import default_tolerances

    old = {
        "reference_pack": {"name": "p", "version": "1", "checksum": "1" * 64},
        "data": {"source": "a.extxyz", "sha256": "2" * 64, "split_source": "file"},
    }
    base = Baseline(
        {
            "protocol_version": "1",
            "profile": "ci",
            "provenance": old,
            "metrics": {
                "m": {
                    "task2.force_rmse": {"value": 0.1, "unit": "eV/Å"},
                    "test_split.force_rmse": {"value": 0.1, "unit": "eV/Å"},
                }
            },
        }
    )
    tolerances = default_tolerances(default_thresholds())
    new = {"reference_pack": dict(old["reference_pack"], checksum="3" * 64), "data": dict(old["data"])}
    task2 = base.check(
        Metric(key="task2.force_rmse", value=0.1, unit="eV/Å", model="m", task="task2"), tolerances, provenance=new
    )
    assert "NOT LIKE FOR LIKE" in task2.message and "reference pack" in task2.note
    split = base.check(
        Metric(key="test_split.force_rmse", value=0.1, unit="eV/Å", model="m", task="test_split"),
        tolerances,
        provenance=new,
    )
    assert "NOT LIKE FOR LIKE" not in split.message  # same data: the test split is comparable
    new["data"]["split_source"] = "stratified(seed=20250101)"
    split = base.check(
        Metric(key="test_split.force_rmse", value=0.1, unit="eV/Å", model="m", task="test_split"),
        tolerances,
        provenance=new,
    )
    assert "split the data file" in split.note
    assert base.info(new)["provenance_differences"]


@pytest.mark.parametrize("case", ["directory", "missing-parent", "parent-is-file"])
def test_output_paths_are_checked(tmp_path: Path, case: str) -> None:
    target = {
        "directory": tmp_path,
        "missing-parent": tmp_path / "no" / "r.json",
        "parent-is-file": tmp_path / "f.txt" / "r.json",
    }[case]
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(LipsUsageError, match="--lips-report"):
        check_writable(target, "--lips-report")
    check_writable(tmp_path / "ok.json", "--lips-report")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]  # no probe left behind


def test_failed_write_leaves_no_tmp(tmp_path: Path) -> None:
    (tmp_path / "r.json").mkdir()
    with pytest.raises(LipsUsageError, match="--lips-report .*cannot write"):
        write_report({"a": 1}, tmp_path / "r.json", option="--lips-report")
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_report_records_provenance_and_interruption() -> None:
    from pytest_lips.report.json_report import build_report

    provenance = {
        "data": {
            "source": "x.extxyz",
            "sha256": "f" * 64,
            "split_source": "file",
            "split_sizes": {"train": 8, "val": 1, "test": 1},
        }
    }
    report = build_report(
        plugin_version="0",
        protocol_version="1",
        profile_name="ci",
        models=[],
        seed=0,
        thresholds={},
        provenance=provenance,
        interrupted=True,
        exit_status=2,
    )
    assert report["provenance"]["data"]["split_sizes"]["test"] == 1
    assert report["interrupted"] is True and report["summary"]["gate"] == "INTERRUPTED"


def test_merging_an_interrupted_shard_gives_an_interrupted_report() -> None:
    from pytest_lips.report.json_report import build_report
    from pytest_lips.report.merge import merge_reports

    def shard(name: str, interrupted: bool) -> dict:
        metric = {"key": "task2.force_rmse", "value": 0.1, "unit": "eV/Å", "model": name}
        return build_report(
            plugin_version="0",
            protocol_version="1",
            profile_name="ci",
            models=[{"name": name}],
            seed=0,
            thresholds={},
            metrics=[metric],
            interrupted=interrupted,
            provenance={"data": {"sha256": "f" * 64}},
        )

    merged = merge_reports([shard("a", False), shard("b", True)])
    assert merged["interrupted"] is True and merged["summary"]["gate"] == "INTERRUPTED"
    assert merged["provenance"]["data"]["sha256"] == "f" * 64
    with pytest.raises(LipsUsageError, match="interrupted"):
        baseline_dict(merged)
    assert merge_reports([shard("a", False), shard("b", False)])["interrupted"] is False


def test_summary_names_provenance_differences_and_data_notes() -> None:
    from pytest_lips.report.json_report import build_report
    from pytest_lips.report.terminal import render_summary

    baseline = {
        "path": "b.json",
        "profile": "ci",
        "created_at": "x",
        "provenance_differences": ["baseline used data a.extxyz (sha256 111), this run b.extxyz (sha256 222)"],
    }
    report = build_report(
        plugin_version="0",
        protocol_version="1",
        profile_name="ci",
        models=[],
        seed=0,
        thresholds={},
        baseline=baseline,
        provenance={"data": {"notes": ["LiPS-25.extxyz differs from the paper"]}},
    )
    text = "\n".join(render_summary(report))
    assert "baseline NOT LIKE FOR LIKE: baseline used data a.extxyz" in text
    assert "data: LiPS-25.extxyz differs from the paper" in text
