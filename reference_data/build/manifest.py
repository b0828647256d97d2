"""Assemble the pack and (re)write ``pack/manifest.yaml`` and ``pack/README.md`` (pyenv python).

Safe to run at any time (the queue runs it after every GPAW job): it
- concatenates finished Task-2 snapshots into ``task2/li7p3s11_melt_quench.extxyz``;
- puts the DFT-relaxed Li7P3S11 into ``task3/Li7P3S11.extxyz`` when it exists (until then the
  CHGNet-relaxed structure, marked as such);
- writes the LiPS-format training file ``data/lips_open.extxyz`` (all DFT frames at production settings);
- lists every file of the pack with its sha256 in the manifest (schema_version 2, with the ``system`` section
  that declares the chemistry: elements, mobile ion, end members, task structures, the σ298 band);
- regenerates the README tables (convergence, relaxed structures, formation energies, progress).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import yaml
from ase import Atoms
from ase.io import read, write
from relax import complete_frames, max_force_eV_A, without_repeats
from settings import (
    CRYSTALS,
    MELT_QUENCH,
    PACK_DIR,
    PRODUCTION,
    RECORD_DIR,
    RELAX,
    TIGHT,
    WORK_DIR,
    RELAX_FMAX_eV_A,
    crystal,
)

TASK2_FILE = "task2/li7p3s11_melt_quench.extxyz"
TASK3_FILE = "task3/Li7P3S11.extxyz"
DATA_FILE = "data/lips_open.extxyz"
EV_A3_TO_GPA = 160.21766208
LI7P3S11_EXP_VOLUME_A3 = 829.35


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def method_dict(settings=PRODUCTION) -> dict:
    return {
        "code": "GPAW 22.8.0",
        "functional": "PBEsol",
        "basis": f"plane waves, {settings.ecut_eV:g} eV cutoff (Pulay stress estimated, dedecut='estimate')",
        "kpoints": f"Gamma-centred Monkhorst-Pack, k-point density {settings.kdensity_A:g} Å "
                   f"(n_i = ceil(2π·{settings.kdensity_A:g} Å·|b_i|)); Task 2 and relaxation meshes fixed "
                   "per structure",
        "scf": f"Fermi-Dirac {settings.smearing_eV:g} eV; convergence {settings.convergence} "
               "(energy eV/valence electron, density, forces eV/Å)",
        "setups": "PAW, generated with `gpaw-setup -f PBEsol Li P S` (GPAW 22.8.0 default generator "
                  "parameters; sha256 in records/*.json)",
    }


def records(sub: str) -> dict[str, dict]:
    d = RECORD_DIR / sub
    return {p.stem: json.loads(p.read_text()) for p in sorted(d.glob("*.json"))} if d.exists() else {}


def virial(atoms: Atoms) -> np.ndarray:
    """Virial (eV) = -stress · volume as a 3x3 matrix."""
    from ase.stress import voigt_6_to_full_3x3_stress

    return -voigt_6_to_full_3x3_stress(atoms.get_stress()) * atoms.get_volume()


#: ``info["source"]`` of every frame of the data file (what produced the labels)
LABEL_SOURCE = "GPAW PBEsol, production settings of the lips-open-pbesol pack (reference_data/pack/README.md)"


def lips_frame(atoms: Atoms, label: str, extra: dict | None = None) -> Atoms:
    out = Atoms(atoms.get_chemical_symbols(), positions=atoms.get_positions(), cell=atoms.cell[:], pbc=True)
    out.info["energy"] = float(atoms.get_potential_energy())
    out.info["virial"] = virial(atoms)
    out.info["label"] = label
    out.info["source"] = LABEL_SOURCE
    out.info.update(extra or {})
    out.arrays["forces"] = atoms.get_forces().copy()
    return out


# ---------------------------------------------------------------- assembly
#: Task 2 is usable once every regime has this many PBEsol-labelled snapshots (the queue labels them in an
#: interleaved order, so a partial set is spread evenly over the melt-quench)
TASK2_MIN_PER_REGIME = 2
TASK2_REGIMES = ("crystal", "liquid", "amorphous")


def assemble_task2(task2_file: str = TASK2_FILE) -> tuple[int, int, dict[str, int]]:
    """Concatenate the finished snapshots (in time order) into ``task2_file`` (relative to the pack); returns
    (done, total, done per regime)."""
    snaps_path = PACK_DIR / "task2" / "snapshots_chgnet.extxyz"
    n_total = len(read(snaps_path, index=":")) if snaps_path.exists() else 0
    done = sorted((PACK_DIR / "task2" / "dft").glob("*.extxyz"))
    per_regime = {r: 0 for r in TASK2_REGIMES}
    if done:
        frames = [read(p) for p in done]
        for fr in frames:
            per_regime[str(fr.info.get("regime"))] = per_regime.get(str(fr.info.get("regime")), 0) + 1
        write(PACK_DIR / task2_file, frames, format="extxyz")
    return len(done), n_total, per_regime


def assemble_md_log() -> None:
    """Copy the CHGNet melt-quench log (temperature, S MSD, potential energy every 0.1 ps) into the pack."""
    src = WORK_DIR / "melt_quench_log.json"
    dst = PACK_DIR / "task2" / "melt_quench_log.json"
    if src.exists() and not dst.exists():
        d = json.loads(src.read_text())
        d["trajectory"] = [{k: round(v, 4) for k, v in t.items()} for t in d["trajectory"]]
        dst.write_text(json.dumps(d, indent=0))


def assemble_task3() -> str:
    """Returns the provenance of the Task-3 structure now in the pack."""
    dft = PACK_DIR / "task1" / "Li7P3S11.extxyz"
    out = PACK_DIR / TASK3_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    if dft.exists():
        a = read(dft)
        a.info["provenance"] = ("PBEsol (GPAW) relaxation of positions and cell, same as task1/Li7P3S11.extxyz; "
                                "start: " + crystal("Li7P3S11").origin)
        write(out, a, format="extxyz")
        return "dft"
    src = WORK_DIR / "Li7P3S11_chgnet_relaxed.extxyz"
    if src.exists() and (not out.exists() or "CHGNet" in str(read(out).info.get("label_source", ""))):
        a = read(src)
        if "momenta" in a.arrays:
            del a.arrays["momenta"]
        write(out, a, format="extxyz")
    return "chgnet"


def frame_split(frame_id: str) -> str:
    """Stable train/val/test assignment of one relaxation frame (80:10:10 by a hash of its id).

    A hash, not a shuffled stratified split, so that frames keep their split as the data file grows.
    """
    bucket = int(hashlib.sha256(frame_id.encode()).hexdigest(), 16) % 10
    return "test" if bucket == 0 else "val" if bucket == 1 else "train"


def assemble_data() -> int:
    """Write ``data/lips_open.extxyz``: every production-settings DFT frame, with ``label`` and ``split``.

    Task-2 snapshots are always ``split=test``: they are Task 2's reference, so a model trained on this
    file (``examples/train_example_model.py`` never trains on test frames) is not scored on its training
    data. Relaxation steps get :func:`frame_split` of ``<structure>/<step>``.
    """
    frames: list[Atoms] = []
    for c in CRYSTALS:
        steps = PACK_DIR / "task1" / "relax" / f"{c.name}.extxyz"
        final_exists = (PACK_DIR / "task1" / f"{c.name}.extxyz").exists()
        if steps.exists():
            traj = without_repeats(read(steps, index=":"))
            for i, a in enumerate(traj):
                # the relaxed structure is the last step: label it once, as "crystalline"
                label = "crystalline" if (final_exists and i == len(traj) - 1) else "crystalline-relaxation"
                step = int(a.info.get("step", i))
                frames.append(lips_frame(a, label, {"structure": c.name, "step": step,
                                                    "split": frame_split(f"{c.name}/{step}")}))
    for p in sorted((PACK_DIR / "task2" / "dft").glob("*.extxyz")):
        a = read(p)
        frames.append(lips_frame(a, "Iter1-meltquench", {"regime": a.info["regime"], "time_ps": a.info["time_ps"],
                                                         "temperature_K": a.info["temperature_K"], "split": "test"}))
    import train_frames

    for a in train_frames.labelled_frames():
        keep = {k: a.info[k] for k in ("structure", "set", "index", "temperature_K", "rattle_sigma_A") if k in a.info}
        frames.append(lips_frame(a, a.info["label"],
                                 {**keep, "split": frame_split(f"{a.info['set']}/{a.info['index']}")}))
    if frames:
        (PACK_DIR / "data").mkdir(parents=True, exist_ok=True)
        write(PACK_DIR / DATA_FILE, frames, format="extxyz")
    return len(frames)


# ---------------------------------------------------------------- analysis
def energy_above_hull(points: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Energy above the lower convex hull (eV/atom) of ``name -> (composition x, E_f)`` points.

    ``scipy.spatial.ConvexHull`` of the points plus one far above them (so that collinear points still
    span a 2-D hull); the lower hull at x is the maximum of its facets' lines there (it is convex).
    """
    from scipy.spatial import ConvexHull

    xy = np.array(list(points.values()), dtype=float)
    top = [[0.5 * (xy[:, 0].min() + xy[:, 0].max()), xy[:, 1].max() + 1e3]]
    hull = ConvexHull(np.vstack([xy, top]))
    lower = [(nx, ny, c) for nx, ny, c in hull.equations if ny < -1e-12]
    return {name: float(y - max(-(nx * x + c) / ny for nx, ny, c in lower))
            for name, (x, y) in points.items()}


def formation_energies() -> dict[str, dict]:
    """Formation energy per atom relative to Li2S and P2S5 (eV/atom) and energy above the hull."""
    recs = {n: r for n, r in records("task1").items() if not n.endswith(".progress")}
    for c in CRYSTALS:  # an unfinished relaxation that stands in provisionally (see provisional_structure)
        prov = PACK_DIR / "task1" / f"{c.name}.provisional.extxyz"
        if c.name not in recs and prov.exists():
            a = read(prov)
            recs[c.name] = {"energy_per_atom_eV": a.get_potential_energy() / len(a), "provisional": True}
    if "Li2S" not in recs or "P2S5" not in recs:
        return {}
    e_l, e_p = recs["Li2S"]["energy_per_atom_eV"], recs["P2S5"]["energy_per_atom_eV"]
    pts = {}
    for name, r in recs.items():
        x = crystal(name).x_Li2S
        n_l, n_p = 3 * x, 7 * (1 - x)
        y = n_l / (n_l + n_p)  # fraction of atoms from Li2S
        ef = r["energy_per_atom_eV"] - (y * e_l + (1 - y) * e_p)
        pts[name] = {"x_Li2S": x, "atom_fraction_Li2S": y, "ef_eV_atom": ef, "provisional": bool(r.get("provisional"))}
    hull = energy_above_hull({n: (v["atom_fraction_Li2S"], v["ef_eV_atom"]) for n, v in pts.items()})
    for n, v in pts.items():
        v["e_above_hull_eV_atom"] = hull[n]
    return pts


# ---------------------------------------------------------------- manifest
def relax_progress(name: str) -> str:
    """One line on a relaxation that has not finished: steps, last fmax and stress, or pre-relaxation/queue."""
    prog = RECORD_DIR / "task1" / f"{name}.progress.json"
    pre = WORK_DIR / "prerelax" / f"{name}.steps.extxyz"
    if prog.exists():
        pr = json.loads(prog.read_text())
        fmax = pr.get("last_fmax_atoms_eV_A", pr.get("last_fmax_filter_eV_A", float("nan")))
        stress = pr.get("last_max_stress_GPa")
        return (f"PBEsol relaxation in progress: {pr['steps_written']} steps written, last fmax {fmax:.3f} eV/Å "
                f"(target {RELAX_FMAX_eV_A})" + (f", max stress {stress:.2f} GPa" if stress is not None else "")
                + "; resumes from the last step")
    if pre.exists():
        return (f"cheap pre-relaxation running ({len(read(pre, index=':'))} steps done, scratch); the production "
                "PBEsol relaxation follows")
    return "PBEsol relaxation queued (not started yet)"


#: an unfinished relaxation whose energy per atom moved by less than this over the last
#: PROVISIONAL_WINDOW production steps stands in as the reference (status ok, reason says "provisional")
PROVISIONAL_DRIFT_meV_atom = 1.0
PROVISIONAL_WINDOW = 5


def provisional_structure(name: str) -> str | None:
    """Write ``task1/<name>.provisional.extxyz`` (the last production step) when the unfinished relaxation of
    ``name`` has settled in energy; returns the reason to record, or None (and removes a stale file)."""
    out = PACK_DIR / "task1" / f"{name}.provisional.extxyz"
    steps = PACK_DIR / "task1" / "relax" / f"{name}.extxyz"
    frames = complete_frames(steps) if steps.exists() and not (PACK_DIR / "task1" / f"{name}.extxyz").exists() else []
    if len(frames) > PROVISIONAL_WINDOW:
        e = [f.get_potential_energy() / len(f) for f in frames[-PROVISIONAL_WINDOW - 1:]]
        drift = 1000 * (e[0] - e[-1])
        last = frames[-1]
        if abs(drift) <= PROVISIONAL_DRIFT_meV_atom:
            fmax = max_force_eV_A(last.get_forces())
            last.info.update({"name": name, "label": "crystalline", "provisional": True})
            write(out, last, format="extxyz")
            return (f"provisional: the PBEsol relaxation is still running; this is its step {len(frames) - 1} "
                    f"(fmax {fmax:.3f} eV/Å, target {RELAX_FMAX_eV_A}; energy down {drift:.2f} meV/atom over the "
                    f"last {PROVISIONAL_WINDOW} steps)")
    out.unlink(missing_ok=True)
    return None


def task1_entries() -> list[dict]:
    out = []
    for c in CRYSTALS:
        e = {"name": c.name, "formula": c.formula, "x_Li2S": round(c.x_Li2S, 6), "role": c.role,
             "extrapolation": c.extrapolation}
        final = PACK_DIR / "task1" / f"{c.name}.extxyz"
        steps = PACK_DIR / "task1" / "relax" / f"{c.name}.extxyz"
        if c.source is None:
            e.update(status="missing", reason=c.origin)
        elif final.exists():
            (PACK_DIR / "task1" / f"{c.name}.provisional.extxyz").unlink(missing_ok=True)  # superseded
            rec = json.loads((RECORD_DIR / "task1" / f"{c.name}.json").read_text())
            reason = "" if rec["converged"] else f"relaxation stopped unconverged after {rec['steps']} steps"
            e.update(status="ok", reason=reason, file=f"task1/{c.name}.extxyz",
                     relaxation_file=f"task1/relax/{c.name}.extxyz")
        elif (provisional := provisional_structure(c.name)) is not None:
            e.update(status="ok", reason=provisional, file=f"task1/{c.name}.provisional.extxyz")
        else:
            reason = relax_progress(c.name)
            e.update(status="pending", reason=reason)
            if steps.exists():
                e["relaxation_file"] = f"task1/relax/{c.name}.extxyz"
        out.append(e)
    return out


def describe(rel: str) -> tuple[str, str, dict | None]:
    """(description, provenance, method override) of a pack file."""
    parts = rel.split("/")
    if rel.startswith("task1/relax/"):
        n = Path(rel).stem
        return (f"every DFT step of the PBEsol position+cell relaxation of {n} (energy, forces, stress)",
                "start: " + crystal(n).origin, {"scf": method_dict(RELAX)["scf"]})
    if rel.startswith("task1/advance/"):
        n = Path(rel).stem
        return (f"CHGNet leg of the PBEsol relaxation of {n} (advance.py): frame 0 the PBEsol step it started "
                "from (geometry), frame 1 CHGNet's minimum at that cell and symmetry (CHGNet energy, forces), "
                "from which the PBEsol relaxation continued; not a reference",
                "start: " + crystal(n).origin,
                {"code": "CHGNet 0.4.2 (pretrained model v0.3.0) via ASE 3.29", "functional": "none (MLIP)"})
    if parts[0] == "task1" and rel.endswith(".provisional.extxyz"):
        n = Path(rel).name.removesuffix(".provisional.extxyz")
        return (f"PROVISIONAL {n}: latest step of its unfinished PBEsol relaxation (energy settled; see the "
                "manifest reason); replaced by the relaxed structure when the relaxation finishes",
                "start: " + crystal(n).origin, {"scf": method_dict(RELAX)["scf"]})
    if parts[0] == "task1":
        n = Path(rel).stem
        return (f"PBEsol-relaxed {n} (last relaxation step: energy, forces, stress)",
                "start: " + crystal(n).origin, {"scf": method_dict(RELAX)["scf"]})
    if rel == TASK2_FILE:
        return ("Task 2: Li7P3S11 melt-quench snapshots (CHGNet MD) with PBEsol energy, forces, stress; info "
                "time_ps, temperature_K, regime", "positions: CHGNet melt-quench of the CHGNet-relaxed Li7P3S11 "
                "(start: " + crystal("Li7P3S11").origin + ")", None)
    if rel.startswith("task2/dft/"):
        return ("one Task-2 snapshot with PBEsol labels (build intermediate; same frame as in "
                + TASK2_FILE + ")", "CHGNet melt-quench snapshot", None)
    if rel.startswith("task2/crosscheck/"):
        return ("Task-2 snapshot recomputed at tighter settings (convergence cross-check)",
                "CHGNet melt-quench snapshot", method_dict(TIGHT))
    if rel == "task2/snapshots_chgnet.extxyz":
        return ("Task-2 inputs: melt-quench snapshots (positions, cell, time_ps, temperature_K, regime), no labels",
                f"CHGNet 0.4.2 (model v0.3.0) Langevin NVT, protocol {MELT_QUENCH.to_dict()}",
                {"code": "CHGNet 0.4.2 (pretrained model v0.3.0) via ASE 3.29", "functional": "none (MLIP)"})
    if rel == "task2/melt_quench_log.json":
        return ("CHGNet melt-quench log: protocol, wall time, and every 0.1 ps the set-point and instantaneous "
                "temperature (K), S mean square displacement (Å^2) and CHGNet potential energy (eV)",
                "CHGNet MD of this generator", {"code": "CHGNet 0.4.2 (pretrained model v0.3.0) via ASE 3.29",
                                                 "functional": "none (MLIP)"})
    if rel == TASK3_FILE:
        a = read(PACK_DIR / rel)
        if "CHGNet" in str(a.info.get("label_source", "")):
            return ("Task 3 Li7P3S11 cell, PROVISIONAL: CHGNet-relaxed (positions+cell) until the PBEsol "
                    "relaxation finishes", a.info.get("provenance", ""),
                    {"code": "CHGNet 0.4.2 (pretrained model v0.3.0) via ASE 3.29", "functional": "none (MLIP)"})
        return ("Task 3 Li7P3S11 cell: PBEsol-relaxed (positions+cell)", a.info.get("provenance", ""),
                {"scf": method_dict(RELAX)["scf"]})
    if rel.startswith("train/candidates/"):
        return ("training-only candidates (positions, cell; no labels): " + Path(rel).stem,
                "train_frames.py from the PBEsol-relaxed crystal (rattled: seeded strain and displacements; "
                "md: CHGNet 0.4.2 Langevin NVT)", None)
    if rel.startswith("train/dft/"):
        return ("one training-only frame with PBEsol labels (build intermediate; same frame as in "
                + DATA_FILE + ")", "train_frames.py candidate", None)
    if rel == DATA_FILE:
        return ("LiPS-format training data: every PBEsol frame of the pack at production settings (energy, "
                "virial, forces, label)", "this generator", None)
    if parts[0] == "records":
        return ("per-result record: settings, code version, setup checksums, wall time", "this generator", None)
    if rel == "README.md":
        return ("pack documentation (generated by reference_data/build/manifest.py)", "this generator", None)
    return ("", "", None)


def in_flight(rel: str) -> bool:
    """Files a running relaxation keeps rewriting: its progress record and its step file."""
    if rel.endswith(".progress.json"):
        return True
    if rel.startswith("task1/relax/") and rel.endswith(".extxyz"):
        name = rel[len("task1/relax/"):-len(".extxyz")]
        return (RECORD_DIR / "task1" / f"{name}.progress.json").exists() and not (
            RECORD_DIR / "task1" / f"{name}.json").exists()
    return False


#: Task 3 accepted band of the LiPS-25 paper (moved here from reference_data/thresholds.yaml: a property of the
#: material, not of the plugin)
SIGMA298_BAND_MS_CM = (17.0, 61.0)
SIGMA298_SOURCES = {
    "min": "LiPS-25 paper, Task 3 accepted band: highest experimental value for Li7P3S11 (17 mS/cm)",
    "max": "LiPS-25 paper, Task 3 accepted band: PBEsol AIMD value (61 mS/cm)",
}


def system_section() -> dict:
    """The chemistry of the pack, read by pytest-lips (docs/PACK_SCHEMA.md)."""
    return {
        "id": "lips",
        "name": "Li-P-S (Li2S-P2S5, LiPS-25)",
        "elements": ["Li", "P", "S"],
        "mobile_ion": {"element": "Li", "charge": 1},
        "end_members": ["Li2S", "P2S5"],
        "task2": {"structure": "Li7P3S11", "composition": "Li7P3S11",
                  "note": "DFT snapshots along a melt-quench of a Li7P3S11 cell; the data-set part of Task 2 "
                          "searches the data set for multiples of this composition"},
        "task3": {"structure": "Li7P3S11", "file": TASK3_FILE,
                  "sigma298_band_mS_cm": list(SIGMA298_BAND_MS_CM), "sigma298_gated": True, "sigma298_reason": "",
                  "sigma298_sources": dict(SIGMA298_SOURCES)},
        "task4": {"composition": "Li7P3S11", "density_g_cm3": 1.88,
                  "note": "random hard-sphere cells of the Li7P3S11 composition at the density of the pack's "
                          "crystalline Li7P3S11 cell (1.88 g/cm³)"},
        "dataset": DATASET,
    }


#: LiPS-25, the data set of this system (pytest_lips.data.DataSetSpec reads it; docs/PACK_SCHEMA.md).
#: The category rules are ordered: the first regex matching the lower-cased label wins (the "Iter"
#: rounds first, so that e.g. "Iter2-dimer" counts with its round); no match: default_category.
DATASET = {
    "name": "LiPS-25",
    "source": "Fragapane & Deringer, J. Chem. Theory Comput. 2026, 22, 3646 (load-atoms id LiPS-25)",
    "url": "https://github.com/nfragapane/lips-25",
    "load_atoms_id": "LiPS-25",
    "file_name_pattern": "lips[-_ ]?25",
    "table1_totals": {"structures": 12525, "atoms": 531576},
    # Table 1's structures per category; left empty: not transcribed yet (only the listed ones are checked)
    "table1_category_counts": {},
    "categories": ["crystalline", "aimd", "random_hard_spheres", "dimers", "iter1", "iter2", "other"],
    "category_titles": {"crystalline": "crystalline", "aimd": "AIMD", "random_hard_spheres": "random hard spheres",
                        "dimers": "dimers", "iter1": "Iter1", "iter2": "Iter2", "other": "other"},
    "category_rules": [
        {"category": "iter1", "pattern": r"^iter[ _-]?0*1(?!\d)"},
        {"category": "iter2", "pattern": r"^iter[ _-]?0*2(?!\d)"},
        {"category": "dimers", "pattern": r"dimer"},
        {"category": "random_hard_spheres",
         "pattern": r"(hard[ _-]?sphere|^rhs|random[ _-]?(structure|hs)|^random)"},
        {"category": "aimd", "pattern": r"(aimd|ab[ _-]?initio[ _-]?md|^md[ _-]|melt|quench|^amorphous|^liquid)"},
        {"category": "crystalline", "pattern": r"(crystal|cryst|^bulk|^li\d*p\d*s\d+|^li2s|^p2s5|^p4s)"},
    ],
    "default_category": "other",
    "splits": ["train", "val", "test"],
}


def write_manifest(task1: list[dict], n_task2: int, n_task2_total: int, task2_regimes: dict[str, int],
                   task3_kind: str, n_data: int) -> dict:
    files = []
    for p in sorted(PACK_DIR.rglob("*")):
        if not p.is_file() or p.name == "manifest.yaml" or p.suffix in (".tmp", ".part"):
            continue
        rel = p.relative_to(PACK_DIR).as_posix()
        if in_flight(rel):
            continue  # rewritten while a job runs: listing it would break the checksums until the next refresh
        desc, prov, meth = describe(rel)
        entry = {"path": rel, "sha256": sha256(p), "description": desc, "provenance": prov}
        if meth:
            entry["method"] = meth
        files.append(entry)
    counts = ", ".join(f"{r} {n}" for r, n in task2_regimes.items())
    if n_task2_total and n_task2 == n_task2_total:
        t2 = {"file": TASK2_FILE, "status": "ok", "reason": ""}
    elif all(task2_regimes.get(r, 0) >= TASK2_MIN_PER_REGIME for r in TASK2_REGIMES):
        t2 = {"file": TASK2_FILE, "status": "ok",
              "reason": f"partial: {n_task2}/{n_task2_total} snapshots labelled so far ({counts}); the GPAW queue "
                        "adds the rest with `python reference_data/build/build_pack.py --stage all`"}
    else:
        t2 = {"file": TASK2_FILE, "status": "pending",
              "reason": f"{n_task2}/{n_task2_total or 24} snapshots have PBEsol labels ({counts}); at least "
                        f"{TASK2_MIN_PER_REGIME} per regime are needed; the GPAW queue resumes "
                        "with `python reference_data/build/build_pack.py --stage all`"}
    t3 = {"structure": TASK3_FILE, "status": "ok",
          "reason": "" if task3_kind == "dft" else
          "provisional CHGNet-relaxed cell; replaced by the PBEsol-relaxed cell when that relaxation finishes"}
    man = {
        "schema_version": 2,
        "name": "lips-open-pbesol",
        "version": "2026.11",
        "description": "Open PBEsol reference pack for pytest-lips (LiPS-25 tasks 1-3), computed with GPAW by "
                       "reference_data/build/build_pack.py. Relaxed Li2S-P2S5 crystals with every relaxation "
                       "step, Li7P3S11 melt-quench snapshots with DFT labels, and the Task-3 Li7P3S11 cell.",
        "system": system_section(),
        "method": method_dict(PRODUCTION),
        "units": {"energy": "eV", "forces": "eV/Å", "stress": "eV/Å^3", "positions": "Å"},
        "files": files,
        "task1": {"end_members": {"Li2S": "Li2S", "P2S5": "P2S5"}, "structures": task1},
        "task2": t2,
        "task3": t3,
        "data": {"file": DATA_FILE, "status": "ok" if n_data else "pending"},
    }
    (PACK_DIR / "manifest.yaml").write_text(
        "# generated by reference_data/build/manifest.py - do not edit by hand\n"
        + yaml.safe_dump(man, sort_keys=False, allow_unicode=True, width=120))
    return man


def main() -> None:
    task1 = task1_entries()  # first: it writes or removes the provisional structure files the rest reads
    n2, n2t, regimes = assemble_task2()
    assemble_md_log()
    t3 = assemble_task3()
    nd = assemble_data()
    import readme

    readme.write(formation_energies(), n2, n2t, t3, nd)
    write_manifest(task1, n2, n2t, regimes, t3, nd)
    print(f"manifest: task2 {n2}/{n2t}, task3 {t3}, data frames {nd}")


if __name__ == "__main__":
    main()
