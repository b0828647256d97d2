"""Settings and paths of the lips-open-pbesol reference-pack generator.

Pure standard library: imported both by the Debian python that runs GPAW under MPI (ASE 3.22) and by
the pyenv python that runs CHGNet and writes the manifest (ASE >= 3.23).

Layout
------
- ``reference_data/build/``           the generator (this folder)
- ``reference_data/build/work/``      scratch (git-ignored): PAW setups, prepared inputs, GPAW logs
- ``reference_data/pack/``            what ships: every DFT result is written there the moment it exists,
                                      and the generator resumes from what it finds there.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

BUILD_DIR = Path(__file__).resolve().parent
REPO_DIR = BUILD_DIR.parent.parent
#: which pack this run builds: ``lips`` (Li2S–P2S5, ``reference_data/pack``) or ``li6ps5cl`` (the
#: argyrodite pack, ``reference_data/pack-li6ps5cl``); both use the same DFT settings and machinery
PACK_SYSTEM = os.environ.get("LIPS_PACK_SYSTEM", "lips")
if PACK_SYSTEM not in ("lips", "li6ps5cl"):
    raise SystemExit(f"LIPS_PACK_SYSTEM={PACK_SYSTEM!r}: expected 'lips' or 'li6ps5cl'")
_PACK_FOLDER = {"lips": "pack", "li6ps5cl": "pack-li6ps5cl"}[PACK_SYSTEM]
#: LIPS_PACK_DIR / LIPS_SETUP_DIR redirect a run (reproduce.py re-runs the generator into scratch)
PACK_DIR = Path(os.environ.get("LIPS_PACK_DIR", BUILD_DIR.parent / _PACK_FOLDER))
WORK_DIR = BUILD_DIR / "work"
#: PAW setups are shared by both packs (same generator, same parameters; Cl only for the argyrodite)
SETUP_DIR = Path(os.environ.get("LIPS_SETUP_DIR", WORK_DIR / "setups"))
_SYSTEM_WORK = WORK_DIR if PACK_SYSTEM == "lips" else WORK_DIR / PACK_SYSTEM
PREPARED_DIR = _SYSTEM_WORK / "prepared"
LOG_DIR = _SYSTEM_WORK / "logs"
#: elements whose PBEsol setups a run needs (``gpaw-setup -f PBEsol ...``)
SETUP_ELEMENTS = ("Li", "P", "S") if PACK_SYSTEM == "lips" else ("Li", "P", "S", "Cl")
RECORD_DIR = PACK_DIR / "records"
SHARED_STRUCTURES = Path(os.environ.get("LIPS_SHARED_STRUCTURES", "/work/shared/structures"))

#: interpreter with GPAW (Debian package) and the MPI launcher
GPAW_PYTHON = os.environ.get("LIPS_GPAW_PYTHON", "/usr/bin/python3")
MPIRUN = os.environ.get("LIPS_MPIRUN", "mpirun")
#: total MPI ranks for one GPAW job (the machine has 2 cores shared with other work)
MPI_RANKS = int(os.environ.get("LIPS_MPI_RANKS", "2"))


@dataclass(frozen=True)
class DFTSettings:
    """GPAW plane-wave PBEsol settings.

    ecut_eV: plane-wave cutoff (eV). kdensity_A: k-point density in Å (GPAW/ASE ``kptdensity``:
    n_i = ceil(2π · kdensity · |b_i|) with b_i the reciprocal vectors without 2π), Γ-centred.
    smearing_eV: Fermi–Dirac width (eV). convergence: GPAW SCF criteria (energy in eV per valence
    electron, density in electrons per valence electron, forces in eV/Å).
    """

    ecut_eV: float = 500.0
    kdensity_A: float = 2.5
    smearing_eV: float = 0.02
    xc: str = "PBEsol"
    convergence: dict = field(default_factory=lambda: {"energy": 1e-6, "density": 1e-5, "forces": 5e-3})
    dedecut: str = "estimate"  # Pulay-stress correction for cell relaxations

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **kw) -> "DFTSettings":
        return dataclasses.replace(self, **kw)


#: production settings (chosen from the convergence check in ``convergence.py``; see pack README)
PRODUCTION = DFTSettings()
#: relaxations: tighter SCF forces so that fmax 0.03 eV/Å is meaningful
RELAX = PRODUCTION.replace(convergence={"energy": 1e-6, "density": 1e-5, "forces": 1e-3})
#: cross-check of Task-2 snapshots at a tighter setting
TIGHT = PRODUCTION.replace(ecut_eV=700.0, kdensity_A=3.0,
                           convergence={"energy": 1e-7, "density": 1e-6, "forces": 1e-3})

RELAX_FMAX_eV_A = 0.03
RELAX_MAX_STEPS = 150
#: secondary stop: fmax < RELAX_FMAX_LOOSE_eV_A and the energy changed by less than RELAX_DE_meV_atom per
#: step over the last RELAX_DE_WINDOW steps (soft Li modes make BFGS creep with negligible energy gain)
RELAX_FMAX_LOOSE_eV_A = 0.06
RELAX_DE_meV_atom = 0.05
RELAX_DE_WINDOW = 5
#: two-phase relaxation: once every stress component is below this, the cell is held fixed and only the
#: positions are relaxed (GPAW restarts its SCF from scratch at every cell change, ~3x the cost of a
#: positions step); if the stress rises well above it again, the cell is released again
RELAX_CELL_STRESS_GPa = 0.5
#: the positions phase returns to the cell phase above RELAX_CELL_REENTRY x RELAX_CELL_STRESS_GPa (hysteresis;
#: relax.phase_after_step)
RELAX_CELL_REENTRY = 1.5
#: stiffness scale mu (eV/Å^2) of ASE's Exp preconditioner in the positions phase. ASE would estimate it
#: from forces at a sinusoidally displaced copy, but that displacement breaks the crystal symmetry GPAW
#: has fixed (RuntimeError 'Broken symmetry!'); 1.5 is the secant estimate <P1 dx, -dF>/<P1 dx, P1 dx>
#: over P2S5's BFGS steps 6-11 (0.7-3.3 step by step); the Armijo line search absorbs the rest
RELAX_PRECON_MU_eV_A2 = 1.5
#: cell phase: BFGS (maxstep RELAX_CELL_MAXSTEP_A) on ASE's UnitCellFilter, whose cell coordinates are
#: cell_factor x strain. ASE's default cell_factor, N atoms, makes the cell ~100x softer than the atoms in
#: BFGS's units (curvature V*C/cell_factor^2 against its initial 70 eV/Å^2) and caps the strain at maxstep/N
#: per step: HT-Li7PS6 (56 atoms) after its CHGNet leg moved its volume by 0.1 % per 9-minute cell step at
#: 1.6 GPa. cell_factor = sqrt(V * RELAX_CELL_STIFFNESS_GPa / 70 eV/Å^2) (at least 1) makes BFGS's first cell
#: step about the elastic one (strain = stress / stiffness) instead (relax.cell_factor)
RELAX_CELL_MAXSTEP_A = 0.1
#: a rough elastic stiffness (GPa) of Li-P-S solids, only to scale the cell coordinates (C11 ~ 30-60 GPa).
#: HT-Li7PS6's first step with it (step 36) overshot: strain -4.0/-2.4/-1.3 % for 1.61/0.95/0.53 GPa gave
#: -4.0/-3.1/-3.2 GPa (clamped ions and the C12 coupling make a 3-D strain ~2.5x stiffer); BFGS's secant
#: update takes it from there. Its second cell phase (step 56) did the same at a smaller stress: strain
#: -1.5/-0.7/-0.2 % for 0.59/0.27/0.07 GPa gave -1.22/-0.85/-0.87 GPa, and step 57 landed at 0.16 GPa
RELAX_CELL_STIFFNESS_GPa = 40.0
#: BFGS's initial Hessian in ASE (eV/Å^2)
BFGS_ALPHA_eV_A2 = 70.0
#: largest displacement of any atom per positions step (Å). ASE's PreconLBFGS default, 0.04 Å, capped
#: HT-Li7PS6's Li rearrangement at 0.04 Å per 5-minute step for 25 steps while the energy fell 75 meV per
#: step; the Armijo line search backtracks a step that raises the energy
RELAX_POSITIONS_MAXSTEP_A = 0.15

#: model-advanced relaxations (``advance.py``): once the production relaxation of a crystal named here has
#: this many steps, CHGNet carries its positions from the last step to CHGNet's own minimum at the fixed
#: PBEsol cell (FixSymmetry) once, and the PBEsol relaxation continues from there. HT-Li7PS6: the 4 Li the
#: ordering put on the 4c sites left them downhill at ~0.05 Å and 5 min per PBEsol step (-0.71 eV over 28
#: steps, fmax rising to 0.54 eV/Å); a CHGNet probe from there moved them 2.3 Å further, 2.6 eV (CHGNet) lower
MODEL_ADVANCE_AFTER_STEPS = {"HT-Li7PS6": 29}
ADVANCE_FMAX_eV_A = 0.02
ADVANCE_MAX_STEPS = 1000

#: cheap pre-relaxation (scratch, not shipped) for the expensive cells: the production relaxation then
#: starts close to the PBEsol minimum and needs few expensive steps (each cell change restarts the SCF)
PRERELAX = PRODUCTION.replace(ecut_eV=400.0, kdensity_A=1.2,
                              convergence={"energy": 1e-5, "density": 1e-4, "forces": 5e-3})
PRERELAX_FMAX_eV_A = 0.05
#: Li7P3S11 from the X-ray cell fell 120 meV/atom over its first 50 cheap steps and was still moving
#: (Li sublattice): each cheap step (~40-80 s there) spares a production step several times dearer
PRERELAX_MAX_STEPS = 200
PRERELAX_NAMES = ("P2S5", "Li7P3S11", "beta-Li3PS4", "HT-Li7PS6", "LT-Li7PS6")
#: structures built from published Wyckoff positions start from a CHGNet relaxation (positions and cell) of the
#: built cell: the approximate Li parameters and the chosen ordering are far from the minimum, and the first
#: PBEsol SCF of the built Li6PS5Cl alone took 20 min on the shared cores (prepared/<name>.chgnet.extxyz)
CHGNET_PRERELAX_NAMES = ("Li6PS5Cl",)
#: interpreter with CHGNet (ASE >= 3.23) for the CHGNet stages when the queue itself runs under another one
CHGNET_PYTHON = os.environ.get("LIPS_CHGNET_PYTHON", "")

#: convergence check (Li2S primitive cell, 3 atoms)
CONV_STRUCTURE = "Li2S"
CONV_ECUTS_eV = (350.0, 450.0, 500.0, 550.0, 700.0, 900.0)
CONV_KDENSITIES_A = (2.0, 2.5, 3.0, 4.0, 5.0, 6.0)
CONV_K_AT_ECUT_eV = 500.0
CONV_ECUT_AT_KDENSITY_A = 5.0
#: formation-reaction check 1.5 Li2S + 0.5 P2S5 -> gamma-Li3PS4 (prepared geometries, production k mesh)
REACTION_ECUTS_eV = (500.0, 700.0)


@dataclass(frozen=True)
class Crystal:
    """A Task-1 slot: one crystal on the Li2S–P2S5 tie line.

    x_Li2S: mole fraction of Li2S, x Li2S · (1-x) P2S5. source: file under SHARED_STRUCTURES (None =
    no open coordinates). origin: citation of the starting coordinates. prep: how the start was built.
    """

    name: str
    formula: str
    x_Li2S: float
    role: str  # end_member | crystal
    extrapolation: bool
    source: str | None
    origin: str
    prep: str = "primitive"  # primitive | as_is | ht_li7ps6_ordering | p2s5_rigid_scale | argyrodite | rocksalt
    priority: int = 99


#: built from published Wyckoff positions by prepare.py (no shared input file)
BUILT_PREPS = ("argyrodite", "rocksalt")


CRYSTALS: tuple[Crystal, ...] = (
    Crystal("Li2S", "Li2S", 1.0, "end_member", False, "Li2S.vasp",
            "antifluorite Li2S, experimental lattice a = 5.7215 Å (frame 0 of a LiPS20 AIMD set, "
            "M3RG-IITD/MDBENCHGNN, symmetrised)", "primitive", 1),
    Crystal("P2S5", "P2S5", 0.0, "end_member", False, "P2S5.vasp",
            "P2S5 (P4S10 molecular crystal, P-1) from the LiPS20 set (M3RG-IITD/MDBENCHGNN), symmetrised; "
            "cell expanded (1.72 g/cm3): molecules moved rigidly to 0.88 of the volume before relaxing",
            "p2s5_rigid_scale", 4),
    Crystal("gamma-Li3PS4", "Li3PS4", 0.75, "crystal", False, "alternates/gamma-Li3PS4_expcell_LiPS20.vasp",
            "γ-Li3PS4 (Pmn2_1), experimental lattice (V = 309.1 Å³), LiPS20 set (M3RG-IITD/MDBENCHGNN)",
            "primitive", 2),
    Crystal("Li2P2S6", "Li2P2S6", 0.5, "crystal", False, "Li2P2S6.cif",
            "Li2P2S6 (C2/m), experimental structure of Dietrich et al., Inorg. Chem. 2017, "
            "doi:10.1021/acs.inorgchem.7b00751 (via the OBELiX data set, CC-BY-4.0)", "primitive", 3),
    Crystal("beta-Li3PS4", "Li3PS4", 0.75, "crystal", False, "beta-Li3PS4.vasp",
            "β-Li3PS4 (Pnma), one ordering of the partial Li sites, experimental lattice (Homma et al. 2011), "
            "LiPS20 set (M3RG-IITD/MDBENCHGNN)", "primitive", 6),
    Crystal("Li7P3S11", "Li7P3S11", 0.7, "crystal", False, "alternates/Li7P3S11_expcell_LiPS20.vasp",
            "Li7P3S11 (P-1), experimental cell (Yamane et al., Solid State Ionics 2007, V = 829.35 Å³) with "
            "coordinates from the LiPS20 set (M3RG-IITD/MDBENCHGNN)", "as_is", 5),
    Crystal("HT-Li7PS6", "Li7PS6", 0.875, "crystal", True, "HT-Li7PS6_ordered_approx.vasp",
            "HT-Li7PS6 (F-43m, experimental a = 9.993 Å); S/P framework from the LiPS20 ordered approximant "
            "(M3RG-IITD/MDBENCHGNN), Li re-ordered by this generator on 48h and empty 4c sites "
            "(no Li–Li pair below 2.0 Å; pack README)",
            "ht_li7ps6_ordering", 7),
    Crystal("Li4P2S7", "Li4P2S7", 2.0 / 3.0, "crystal", True, None,
            "no open coordinates found (computational phase, Holzwarth et al., J. Power Sources 2011)"),
    Crystal("alpha-Li3PS4", "Li3PS4", 0.75, "crystal", True, None,
            "no open coordinates found for α-Li3PS4"),
    Crystal("LT-Li7PS6", "Li7PS6", 0.875, "crystal", False, "open-dft/LT-Li7PS6_mp-1211324_std-Pna21-setting.vasp",
            "LT-Li7PS6 (Pna2_1, fully ordered), PBE-relaxed structure of the Materials Project, mp-1211324 "
            "(a, b, c = 7.1734, 14.1686, 9.8570 Å, V = 1001.83 Å³), coordinates as cached in the public "
            "repository E1582271-dotcom/Solid-Electrolyte-Inverse-Design (data/ref_structures.json, entry "
            "mp-1211324-GGA), standard Pna2_1 axes", "as_is", 8),
)


#: the argyrodite pack (LIPS_PACK_SYSTEM=li6ps5cl). Li2S and P2S5 are not recomputed: their records are
#: copied from the LiPS pack (same settings); x_Li2S has no meaning here (NaN), compositions come from formula
ARGYRODITE_CRYSTALS: tuple[Crystal, ...] = (
    Crystal("LiCl", "LiCl", float("nan"), "end_member", False, None,
            "rock-salt LiCl (Fm-3m), Li 4a, Cl 4b, experimental a = 5.130 Å; built by this generator", "rocksalt", 1),
    Crystal("Li6PS5Cl", "Li6PS5Cl", float("nan"), "crystal", False, None,
            "argyrodite Li6PS5Cl (F-43m; Deiseroth et al., Angew. Chem. Int. Ed. 2008, 47, 755): Cl 4a, P 4b, "
            "S 16e (x = 0.62), S 4c, Li 48h (0.3145, 0.3145, 0.0234; approximate literature values), a = 9.85 Å; "
            "Cl/S fully ordered (no 4a/4c anion site disorder); 6 of the 12 48h sites of the primitive cell chosen "
            "by this generator (fewest short Li–Li pairs, then the largest minimum; pack README)",
            "argyrodite", 2),
)
if PACK_SYSTEM == "li6ps5cl":
    CRYSTALS = ARGYRODITE_CRYSTALS


def crystal(name: str) -> Crystal:
    for c in CRYSTALS:
        if c.name == name:
            return c
    raise KeyError(f"unknown crystal {name!r}; known: {[c.name for c in CRYSTALS]}")


# Task 2: CHGNet melt-quench of Li7P3S11 (42 atoms), NVT at the CHGNet-relaxed cell
@dataclass(frozen=True)
class MeltQuench:
    """Temperature programme (K, ps) of the CHGNet melt-quench; snapshots per regime window."""

    timestep_fs: float = 2.0
    friction_per_fs: float = 0.01
    seed: int = 2025
    t_crystal_ps: float = 3.0     # hold at 300 K
    t_heat_ps: float = 3.0        # 300 -> 1500 K linear ramp
    t_liquid_ps: float = 6.0      # hold at 1500 K
    t_quench_ps: float = 6.0      # 1500 -> 300 K linear ramp
    t_amorphous_ps: float = 3.0   # hold at 300 K
    T_low_K: float = 300.0
    T_high_K: float = 1500.0
    snapshots_per_regime: int = 8

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


MELT_QUENCH = MeltQuench()
TASK2_CROSSCHECK_INDICES = (0, 12, 20)  # one crystal, one liquid, one amorphous snapshot


def gpaw_env() -> dict:
    """Environment for GPAW runs: generated PBEsol setups first, then the Debian setups."""
    env = dict(os.environ)
    env["GPAW_SETUP_PATH"] = f"{SETUP_DIR}:/usr/share/gpaw-setups"
    env["OMP_NUM_THREADS"] = "1"
    env["OPENBLAS_NUM_THREADS"] = "1"
    # Ranks that wait at a collective yield the core instead of spinning: these cores are shared with
    # other jobs, and a spinning rank starves the one it waits for. Results are unchanged.
    env.setdefault("OMPI_MCA_mpi_yield_when_idle", "1")
    return env
