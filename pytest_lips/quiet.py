"""Narrow warning filters for warnings that pytest-lips's own library calls provoke.

Library use: the plugin's calls are wrapped (``with quiet_library_warnings(): ...``). Under pytest
with ``--lips-model`` the same filters are added to pytest's ``filterwarnings`` for the whole run
(:func:`pytest_filterwarnings_lines`; ASE's NumPy deprecation comes from almost every ``Atoms``
operation in MD, supercells and batching, thousands per run). Only these known, harmless messages
raised inside those libraries are silenced (each filter names the library's module); every other
warning -- and every warning of the user's own code -- still reaches pytest's warning summary.

* torch 2.13 deprecates ``torch.jit.script``/``load``/``save``; e3nn (imported when a graph-pes
  MACE model is unpickled) calls them while it builds its kernels (28 lines before the header), and
  the Task 3/4 MD runs provoke some as well (``save`` included).
* NumPy >= 2.5 deprecates assigning ``ndarray.shape``, which ASE 3.29's ``Atoms`` does internally.
* scipy's ``logm`` warns "logm result may be inaccurate" with estimated errors of ~3e-13 when
  ASE's ``FrechetCellFilter`` takes the logarithm of a near-identity 3x3 deformation matrix.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

#: (action, message regex, category, module regex) of every silenced warning.
LIBRARY_WARNINGS: tuple[tuple[str, type[Warning], str], ...] = (
    (r"`torch\.jit\.(script|load|save|trace)` is deprecated", DeprecationWarning, r"torch\.jit"),
    (r"Setting the shape on a NumPy array has been deprecated", DeprecationWarning, r"ase\."),
    (r"logm result may be inaccurate", RuntimeWarning, r"scipy\."),
)


@contextlib.contextmanager
def quiet_library_warnings() -> Iterator[None]:
    """Silence :data:`LIBRARY_WARNINGS` inside the block (warning filters are restored after it)."""
    with warnings.catch_warnings():
        for message, category, module in LIBRARY_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=category, module=module)
        yield


def pytest_filterwarnings_lines() -> list[str]:
    """:data:`LIBRARY_WARNINGS` as pytest ``filterwarnings`` ini lines (``ignore:message:Category:module``)."""
    return [f"ignore:{message}:{category.__name__}:{module}" for message, category, module in LIBRARY_WARNINGS]
