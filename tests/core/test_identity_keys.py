"""One key path: every part of a cached result's key is built and hashed in pytest_lips.identity."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_lips import identity
from pytest_lips.profiles import load_profile
from pytest_lips.tasks import task3_conductivity as task3
from pytest_lips.tasks import task4_robustness as task4

CONTEXT = identity.ResultContext(
    plugin_version="0.1.0", protocol_version="1/1", profile="ci", device="cpu", engine="ase-3.23", seed=0, pack="a" * 64
)


class _Engine:
    def __init__(self, name: str) -> None:
        self.name = name


def _key(
    settings: dict, seed: int, engine: str = "ase", context: identity.ResultContext = CONTEXT, runs=("a", "b")
) -> str:
    parts = identity.md_run_parts("task3-run", "task3-2", settings, "a", seed, "production10ps")
    return identity.result_key("file:abc", context, [*parts, *identity.batch_part(_Engine(engine), list(runs))])


def test_same_inputs_give_the_same_key_and_each_input_changes_it() -> None:
    settings = {"timestep_fs": 2.0, "temperatures_K": [600.0, 800.0]}
    base = _key(settings, 1)
    assert base == _key({"temperatures_K": [600.0, 800.0], "timestep_fs": 2.0}, 1)  # key order does not matter
    others = {
        "protocol": _key({"timestep_fs": 1.0, "temperatures_K": [600.0, 800.0]}, 1),
        "seed": _key(settings, 2),
        "engine (context)": _key(
            settings, 1, context=identity.ResultContext(**{**CONTEXT.__dict__, "engine": "torch-sim-0.6"})
        ),
        "engine (batched)": _key(settings, 1, engine="torch-sim"),
    }
    assert len({base, *others.values()}) == len(others) + 1, others
    # a torch-sim key names its batch: another batch of the same run is another key
    assert _key(settings, 1, engine="torch-sim") != _key(settings, 1, engine="torch-sim", runs=("a",))
    assert _key(settings, 1, engine="torch-sim") == _key(settings, 1, engine="torch-sim", runs=("b", "a"))
    # ASE integrates one run after the other: the batch does not enter
    assert _key(settings, 1, runs=("a",)) == base


def test_key_values_are_those_of_existing_caches() -> None:
    """The digests the Task 1, 3 and 4 keys held before the key path moved here (pinned literals: a change
    invalidates every cache, which must then be said)."""
    assert identity.key_digest({"a": 1, "b": [1.5, 2.0], "c": None}) == "513f48cb06f5d98c"
    assert identity.key_digest({"x": "é"}, chars=12) == "f8dbff30ddbd"
    assert identity.batch_part(_Engine("torch-sim"), ["T600K-r1", "T800K-r1"]) == ("batch=c76c590076b9",)
    assert identity.md_run_parts("task4-start", "task4-1", {}, "r1", 7, "start3") == (
        "task4-start",
        "task4-1",
        "44136fa355b3678a",
        "r1",
        "seed7",
        "start3",
    )
    assert identity.keys_digest(["b", "a"]) == identity.sha256_text("a\nb")


@pytest.mark.parametrize("profile", ["smoke", "ci", "paper"])
def test_batched_task_keys_are_distinct_per_run(profile: str) -> None:
    from pytest_lips.tasks.batched import BatchedRuns

    prof = load_profile(profile)
    seen: set[str] = set()
    for name, module, protocol in (
        ("task3", task3, task3.Task3Protocol.from_section(prof.section("task3"))),
        ("task4", task4, task4.Task4Protocol.from_section(prof.section("task4"))),
    ):
        batch = BatchedRuns(
            task=name,
            model=None,
            store=None,
            engine=_Engine("torch-sim"),
            run_key=lambda *parts, task: identity.result_key("file:abc", CONTEXT, parts),
            progress=lambda label, total: lambda steps: None,
            checkpoint=lambda keys, label: None,
        )
        runs = module.plan_runs(protocol, 0)
        keys = batch.keys(runs, module.PROTOCOL_VERSION, protocol.to_dict())
        assert len(set(keys.values())) == len(runs)
        assert not seen & set(keys.values())
        seen |= set(keys.values())
        assert all(f"|{name}-run|" in key and "|batch=" in key for key in keys.values())


def test_no_module_but_identity_hashes_key_material() -> None:
    """hashlib only in identity.py, and in data.py / models.py for the checksum of a file's content."""
    root = Path(identity.__file__).resolve().parent
    content_checksums = {"data.py", "models.py"}
    offenders = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        if rel == "identity.py":
            continue
        uses_hashlib = re.search(r"^\s*(import hashlib|from hashlib import)", text, re.M)
        if uses_hashlib and rel not in content_checksums:
            offenders.append(f"{rel} imports hashlib")
        if re.search(r"hashlib\.\w+\([^)]*json", text) or re.search(r"sha256_text\([^)]*json\.dumps", text):
            offenders.append(f"{rel} hashes JSON (key material)")
    assert not offenders, offenders
