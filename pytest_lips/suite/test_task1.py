"""LiPS-25 Task 1: formation energies relative to the reference pack's end members (LiPS: the Li2S–P2S5 line).

``test_task1_structure[<model>-<name>]`` relaxes and single-points one crystal (SKIPPED with the
pack's reason when the crystal is missing/pending); ``test_task1_ef_rmse[<model>-relaxed]`` and
``[<model>-single_point]`` gate RMSE(E_f); the extrapolation set is reported by
``test_task1_ef_rmse_extrapolation``.  Results are shared through ``lips_store``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from pytest_lips.plugin import get_session as _session
from pytest_lips.reference import task1_structure_names
from pytest_lips.tasks import task1_formation as task

NO_PACK = "no-reference-pack"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "task1_structure" not in metafunc.fixturenames:
        return
    from pytest_lips.resources import default_pack_dir

    try:
        pack_dir = _session(metafunc.config).settings.reference_dir or default_pack_dir()
    except Exception:
        pack_dir = default_pack_dir()
    names = task1_structure_names(pack_dir) or [NO_PACK]
    metafunc.parametrize("task1_structure", names, ids=names)


def _protocol(profile: Any) -> task.Task1Protocol:
    return task.Task1Protocol.from_section(profile.section("task1"))


def _require_task1(pack: Any) -> None:
    if not pack.task1:
        pytest.skip(f"reference pack {pack.key} has no task1 section")


def _getter(config: pytest.Config, model: Any, store: Any):
    session = _session(config)

    def get_or_compute(key: str, compute):  # run_key adds the reference pack's content checksum
        return store.get_or_compute(session.run_key(model, key, task="task1"), compute)

    return get_or_compute


def test_task1_structure(task1_structure, pytestconfig, lips_model, lips_profile, lips_reference, lips_store):
    if task1_structure == NO_PACK:
        pytest.skip("the reference pack lists no Task 1 structures")
    _require_task1(lips_reference)
    protocol = _protocol(lips_profile)
    try:
        entry = lips_reference.task1_entry(task1_structure)
    except KeyError as exc:
        pytest.skip(str(exc))
    if not entry.available:
        pytest.skip(
            f"{entry.name}: {entry.status} in reference pack {lips_reference.key}: {entry.reason or 'no reason given'}"
        )
    if entry.name not in {e.name for e in task.selected_entries(lips_reference, protocol)}:
        pytest.skip(f"{entry.name} is not in the profile's task1.structures")
    get = _getter(pytestconfig, lips_model, lips_store)
    for mode in task.MODES:
        key = task.cache_key("", lips_reference, protocol, entry.name, mode)
        result = get(key, lambda mode=mode: task.run_structure(entry, lips_model, protocol, mode))
        assert math.isfinite(result["energy_eV"]), f"{entry.name} ({mode}): non-finite model energy"


def _metrics(config, model, profile, pack, store, modes):
    _require_task1(pack)
    protocol = _protocol(profile)
    results = task.run_all(pack, model, protocol, _getter(config, model, store), model_key="", modes=modes)
    return {m.key: m for m in task.analyse(pack, results, protocol, model.name)}


@pytest.mark.parametrize("mode", task.MODES)
def test_task1_ef_rmse(mode, pytestconfig, lips_model, lips_profile, lips_reference, lips_store, lips_check):
    metrics = _metrics(pytestconfig, lips_model, lips_profile, lips_reference, lips_store, (mode,))
    lips_check(metrics[f"task1.ef_rmse_{mode}"])


@pytest.mark.parametrize("mode", task.MODES)
def test_task1_ef_rmse_extrapolation(
    mode, pytestconfig, lips_model, lips_profile, lips_reference, lips_store, lips_check
):
    metrics = _metrics(pytestconfig, lips_model, lips_profile, lips_reference, lips_store, (mode,))
    lips_check(metrics[f"task1.ef_rmse_extrapolation_{mode}"])
