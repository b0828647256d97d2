"""Start-up cost of having pytest-lips installed, for a test suite that does not use it.

Times ``pytest --collect-only`` on a one-test suite with the plugin enabled and disabled
(``-p no:lips``), several rounds each, and prints the medians.  Run: ``python benchmarks/startup.py``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def time_collect(workdir: Path, extra: list[str], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *extra],
            cwd=workdir,
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - start)
    return times


def main(rounds: int = 7) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "test_unrelated.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
        time_collect(workdir, [], 1)  # warm the file-system cache
        with_plugin = time_collect(workdir, [], rounds)
        without = time_collect(workdir, ["-p", "no:lips"], rounds)
    med_with, med_without = statistics.median(with_plugin), statistics.median(without)
    print(f"pytest --collect-only, one unrelated test, {rounds} rounds each")
    print(f"  with pytest-lips    median {med_with * 1000:7.1f} ms  (min {min(with_plugin) * 1000:.1f})")
    print(f"  with -p no:lips     median {med_without * 1000:7.1f} ms  (min {min(without) * 1000:.1f})")
    print(f"  difference          {1000 * (med_with - med_without):+7.1f} ms")
    modules = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pytest_lips.plugin; "
            "print(sorted(m for m in ('numpy','torch','ase','yaml','graph_pes','scipy') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"  heavy modules imported by the plugin module itself: {modules}")


if __name__ == "__main__":
    main()
