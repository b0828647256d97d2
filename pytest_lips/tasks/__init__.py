"""One module per LiPS-25 task: protocol dataclass, run plan, one unit of work, ``analyse -> list[Metric]``.

* :mod:`.test_split` — energy/force errors on the LiPS-25 test split;
* :mod:`.task1_formation` — formation energies on the Li2S–P2S5 tie line;
* :mod:`.task2_forces` — forces along a Li7P3S11 melt-quench;
* :mod:`.task3_conductivity` — Li conductivity of Li7P3S11 from NVT MD (σ298, Ea, D(T));
* :mod:`.task4_robustness` — survival and close contacts of NPT MD from random hard-sphere cells;
* :mod:`.structures` — random hard-sphere cells and supercells for Tasks 3 and 4.

Submodules are imported explicitly (``from pytest_lips.tasks import task3_conductivity``) so that
importing the package stays cheap. No pytest here.
"""
