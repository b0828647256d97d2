"""Task 2 inputs: CHGNet melt–quench of Li7P3S11 (42 atoms) and snapshot selection (pyenv python).

Protocol (``settings.MELT_QUENCH``): Langevin NVT at the CHGNet-relaxed cell (``pack/task3/Li7P3S11.extxyz``
as first written, i.e. the CHGNet relaxation of the shared Li7P3S11 cell), 300 K hold → linear heat to
1500 K → 1500 K hold → linear quench to 300 K → 300 K hold. ``snapshots_per_regime`` evenly spaced
snapshots are taken in each of three windows: the first 300 K hold (regime ``crystal``), the 1500 K hold
after its first picosecond (``liquid``), the final 300 K hold (``amorphous``). Snapshots carry only
positions/cell and info ``snapshot_index``, ``time_ps``, ``temperature_K`` (thermostat set point),
``temperature_inst_K``, ``regime``; the DFT labels are added by ``task2_dft.py``.
Output: ``pack/task2/snapshots_chgnet.extxyz`` (written once; delete it to regenerate).
"""
from __future__ import annotations

import json
import time

import numpy as np
from ase import units
from ase.io import read, write
from settings import MELT_QUENCH, PACK_DIR, PACK_SYSTEM, WORK_DIR, MeltQuench

SNAPSHOTS = PACK_DIR / "task2" / "snapshots_chgnet.extxyz"
#: F-centred cubic cell from the fcc primitive vectors a/2 (0,1,1), (1,0,1), (1,1,0)
FCC_TO_CUBIC = np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]])


def argyrodite_md_cell():
    """The 52-atom cubic Li6PS5Cl cell of the melt-quench: the PBEsol-relaxed primitive cell repeated onto the
    F-centred cubic cell (4 primitive cells).

    The relaxed cell is ``pack/task1/Li6PS5Cl.extxyz``; while that relaxation is in its positions phase (cell
    final, ``relax_mode == "positions"``) its latest step serves, since the MD thermalises for 3 ps at 300 K
    before the first snapshot; ``info["start"]`` records which.
    """
    from ase.build import make_supercell

    relaxed = PACK_DIR / "task1" / "Li6PS5Cl.extxyz"
    steps = PACK_DIR / "task1" / "relax" / "Li6PS5Cl.extxyz"
    if relaxed.exists():
        prim, start = read(relaxed), "PBEsol-relaxed primitive cell (pack/task1/Li6PS5Cl.extxyz)"
    elif steps.exists() and read(steps).info.get("relax_mode") == "positions":
        prim = read(steps)
        start = (f"PBEsol relaxation step {prim.info.get('step')} in its positions phase (cell final; "
                 f"pack/task1/relax/Li6PS5Cl.extxyz)")
    else:
        raise SystemExit(f"{relaxed} does not exist yet and the relaxation has not reached its positions phase: "
                         "relax Li6PS5Cl first (build_pack.py --stage relax)")
    prim.calc = None
    cubic = make_supercell(prim, FCC_TO_CUBIC)
    cubic.wrap()
    cubic.info = {"start": start + ", on the 52-atom cubic cell"}
    return cubic


def setpoint_K(t_ps: float, p: MeltQuench) -> float:
    """Thermostat set point (K) at time t_ps of the programme."""
    t1 = p.t_crystal_ps
    t2 = t1 + p.t_heat_ps
    t3 = t2 + p.t_liquid_ps
    t4 = t3 + p.t_quench_ps
    if t_ps <= t1:
        return p.T_low_K
    if t_ps <= t2:
        return p.T_low_K + (p.T_high_K - p.T_low_K) * (t_ps - t1) / p.t_heat_ps
    if t_ps <= t3:
        return p.T_high_K
    if t_ps <= t4:
        return p.T_high_K - (p.T_high_K - p.T_low_K) * (t_ps - t3) / p.t_quench_ps
    return p.T_low_K


def snapshot_times_ps(p: MeltQuench) -> list[tuple[float, str]]:
    """(time_ps, regime) of the snapshots: evenly spaced inside each regime window (window end included)."""
    total = p.t_crystal_ps + p.t_heat_ps + p.t_liquid_ps + p.t_quench_ps + p.t_amorphous_ps
    liq0 = p.t_crystal_ps + p.t_heat_ps
    windows = [("crystal", 0.0, p.t_crystal_ps),
               ("liquid", liq0 + 1.0, liq0 + p.t_liquid_ps),
               ("amorphous", total - p.t_amorphous_ps, total)]
    out = []
    n = p.snapshots_per_regime
    for regime, a, b in windows:
        for i in range(n):
            out.append((round(a + (b - a) * (i + 1) / n, 6), regime))
    return out


def run(p: MeltQuench = MELT_QUENCH, start_file=WORK_DIR / "Li7P3S11_chgnet_relaxed.extxyz") -> None:
    """LiPS pack: the CHGNet-relaxed Li7P3S11 cell; argyrodite pack: :func:`argyrodite_md_cell` (the
    PBEsol cell, so the snapshots' density is the DFT one)."""
    import fcntl

    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from chgnet_tools import chgnet_calculator, chgnet_version

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    lock = open(WORK_DIR / "melt_quench.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)  # another melt-quench running: wait for it, then skip
    if SNAPSHOTS.exists():
        print(f"{SNAPSHOTS} exists: skip (delete it to regenerate)")
        return
    atoms = argyrodite_md_cell() if PACK_SYSTEM == "li6ps5cl" else read(start_file)
    if PACK_SYSTEM == "lips" and "CHGNet" not in str(atoms.info.get("label_source", "")):
        print("warning: start structure is not the CHGNet-relaxed cell:", atoms.info.get("label_source"))
    start_note = str(atoms.info.get("start", f"{start_file}"))
    atoms.info.clear()
    atoms.calc = chgnet_calculator(threads=1)
    rng = np.random.default_rng(p.seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=p.T_low_K, rng=rng)
    Stationary(atoms)
    dt = p.timestep_fs * units.fs
    md = Langevin(atoms, dt, temperature_K=p.T_low_K, friction=p.friction_per_fs / units.fs, rng=rng)
    total = p.t_crystal_ps + p.t_heat_ps + p.t_liquid_ps + p.t_quench_ps + p.t_amorphous_ps
    nsteps = int(round(total * 1000 / p.timestep_fs))
    want = {int(round(t * 1000 / p.timestep_fs)): (t, r) for t, r in snapshot_times_ps(p)}
    pos0 = atoms.get_positions().copy()
    s_mask = np.array([s == "S" for s in atoms.get_chemical_symbols()])
    snaps, traj = [], []
    t0 = time.time()
    unwrapped = atoms.get_positions().copy()
    prev = atoms.get_scaled_positions().copy()
    for step in range(1, nsteps + 1):
        t_ps = step * p.timestep_fs / 1000
        md.set_temperature(temperature_K=setpoint_K(t_ps, p))
        md.run(1)
        frac = atoms.get_scaled_positions()
        d = frac - prev
        d -= np.round(d)
        unwrapped += d @ atoms.cell[:]
        prev = frac
        if step in want or step % 50 == 0:
            msd_s = float(((unwrapped - pos0)[s_mask] ** 2).sum(axis=1).mean())
            tinst = float(atoms.get_temperature())
            traj.append({"time_ps": t_ps, "T_set_K": setpoint_K(t_ps, p), "T_K": tinst, "msd_S_A2": msd_s,
                         "epot_eV": float(atoms.get_potential_energy())})
        if step in want:
            t, regime = want[step]
            snap = atoms.copy()
            snap.calc = None
            snap.set_momenta(None) if hasattr(snap, "set_momenta") else None
            if "momenta" in snap.arrays:
                del snap.arrays["momenta"]
            snap.info = {"snapshot_index": len(snaps), "time_ps": round(t, 6),
                         "temperature_K": setpoint_K(t, p), "temperature_inst_K": round(tinst, 1),
                         "regime": regime, "msd_S_A2": round(msd_s, 3),
                         "md": f"{chgnet_version()}; Langevin NVT dt={p.timestep_fs} fs, friction "
                               f"{p.friction_per_fs}/fs, seed {p.seed}; start: {start_note}"}
            snaps.append(snap)
    wall = time.time() - t0
    SNAPSHOTS.parent.mkdir(parents=True, exist_ok=True)
    write(SNAPSHOTS, snaps, format="extxyz")
    log_dir = WORK_DIR if PACK_SYSTEM == "lips" else PACK_DIR / "task2"  # the argyrodite pack ships it as is
    (log_dir / "melt_quench_log.json").write_text(json.dumps(
        {"protocol": p.to_dict(), "start": start_note, "wall_s": wall, "steps": nsteps, "trajectory": traj}, indent=0))
    print(f"{len(snaps)} snapshots -> {SNAPSHOTS}; {nsteps} steps in {wall:.0f} s")


if __name__ == "__main__":
    run()
