"""Entry point of one GPAW job; launched by ``build_pack.py`` as
``mpirun -np 2 /usr/bin/python3 reference_data/build/dft_worker.py <job> [args]``.

Jobs: ``convergence`` | ``relax NAME [MAX_NEW_STEPS]`` | ``task2 INDEX...`` | ``crosscheck INDEX...`` |
``train SET``. Each job writes its results into the pack as soon as they exist and skips work
already present, so the queue can be killed and restarted at any time.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv: list[str]) -> None:
    job = argv[0]
    if job == "convergence":
        import convergence

        convergence.run()
    elif job == "relax":
        import relax

        status = relax.run(argv[1], int(argv[2]) if len(argv) > 2 else None)
        print(f"relax {argv[1]}: {status}", flush=True)
    elif job in ("task2", "crosscheck"):
        import task2_dft

        task2_dft.run_many([int(a) for a in argv[1:]], tight=(job == "crosscheck"))
    elif job == "train":
        import train_frames

        train_frames.label(argv[1])
    else:
        raise SystemExit(f"unknown job {job!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
