"""How a foundation model plugs into pytest-lips: a factory that returns an ASE calculator.

    pytest --lips-model examples.chgnet_factory:make_calculator --lips-profile smoke

``--lips-model`` accepts, besides a graph-pes model file (``model.pt``), an import spec
``package.module:callable``. The callable is called with no arguments (or ``device=...``) and must return a
NEW ``ase.calculators.calculator.Calculator`` on each call: the plugin asks for a fresh calculator for every
MD trajectory, so never return a shared, cached instance. (Run pytest from the repository root, or put
this directory on ``PYTHONPATH``, so that ``examples.chgnet_factory`` is importable.)

CHGNet's pretrained weights ship inside the ``chgnet`` wheel (``pip install chgnet``): no network needed.
CHGNet was trained on Materials Project (PBE/PBE+U) data, so it is compared here with PBEsol labels: expect
systematic offsets in energies and lattice parameters that say as much about the functional as the model.

A MACE foundation model plugs in the same way (needs ``pip install mace-torch``; not required here)::

    # examples/mace_factory.py
    def make_calculator(device: str = "cpu"):
        from mace.calculators import mace_mp
        return mace_mp(model="small", device=device, default_dtype="float64")

    # pytest --lips-model examples.mace_factory:make_calculator

Any other ASE-calculator model (ORB, MatterSim, SevenNet, ...) works the same way.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=None)
def _chgnet_model():
    """Load the pretrained CHGNet weights once per process (the weights are immutable; calculators are not)."""
    from chgnet.model import CHGNet

    return CHGNet.load(verbose=False)


def make_calculator(device: str = "cpu"):
    """Return a fresh CHGNet ASE calculator (energy eV, forces eV/A, stress eV/A^3) on ``device``."""
    from chgnet.model import CHGNetCalculator

    return CHGNetCalculator(model=_chgnet_model(), use_device=device)


if __name__ == "__main__":  # smoke check: python examples/chgnet_factory.py
    from ase.build import bulk

    atoms = bulk("Li2S", "fluorite", a=5.72)  # antifluorite Li2S (ase: S at 0, Li at 1/4 positions)
    atoms.set_chemical_symbols(["S", "Li", "Li"])
    atoms.calc = make_calculator()
    print(
        f"Li2S: {atoms.get_potential_energy() / len(atoms):.4f} eV/atom, max |F| "
        f"{abs(atoms.get_forces()).max():.2e} eV/A"
    )
