"""Optional dependencies, imported where they are used: a missing one names its pip extra.

    with optional_import("matplotlib", "Schedule.plot"):
        import matplotlib.pyplot as plt

raises ``ImportError("Schedule.plot needs matplotlib: pip install 'gradtx[plot]'")``
(from the original error) when matplotlib cannot be imported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

# The top-level module -> (the distribution to install, the gradtx extra that has it).
EXTRAS: dict[str, tuple[str, str]] = {
    "flax": ("flax", "examples"),
    "matplotlib": ("matplotlib", "plot"),
    "optax": ("optax", "optax"),
    "orbax": ("orbax-checkpoint", "checkpoint"),
    "sklearn": ("scikit-learn", "examples"),
}


def missing_message(module: str, owner: str) -> str:
    """``"{owner} needs {distribution}: pip install 'gradtx[{extra}]'"`` for ``module``."""
    distribution, extra = EXTRAS[module]
    return f"{owner} needs {distribution}: pip install 'gradtx[{extra}]'"


@contextlib.contextmanager
def optional_import(module: str, owner: str) -> Iterator[None]:
    """Turns an ``ImportError`` in the block into one naming ``owner`` and ``module``'s extra.

    ``module`` is a key of ``EXTRAS`` (a top-level module name); ``owner`` is the
    public name that needs it (``"lsuv_nnx"``).
    """
    if module not in EXTRAS:
        raise KeyError(f"optional_import: unknown optional module {module!r}; known: "
                       f"{', '.join(sorted(EXTRAS))}")
    try:
        yield
    except ImportError as err:
        raise ImportError(missing_message(module, owner)) from err
