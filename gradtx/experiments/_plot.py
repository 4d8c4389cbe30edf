"""Lazy matplotlib import and small helpers shared by the experiment plots."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradtx._optional import optional_import


def pyplot(owner: str) -> Any:
    """``matplotlib.pyplot``, imported on first use; the error names ``owner`` and the extra."""
    with optional_import("matplotlib", owner):
        import matplotlib.pyplot as plt
    return plt


def smooth(values: np.ndarray, smoothing: float) -> np.ndarray:
    """Debiased exponential moving average: m_k = s m_{k-1} + (1 − s) v_k, shown as
    m_k / (1 − s^k) (``smoothing = 0`` returns ``values``)."""
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing!r}")
    values = np.asarray(values, dtype=np.float64)
    if smoothing == 0.0:
        return values
    out = np.empty_like(values)
    average = 0.0
    for k, v in enumerate(values, start=1):
        average = smoothing * average + (1.0 - smoothing) * v
        out[k - 1] = average / (1.0 - smoothing**k)
    return out


def use_log_scale(*arrays: np.ndarray) -> bool:
    """Whether every finite value is positive (and there is one), so a log axis shows them."""
    finite = np.concatenate([np.ravel(a)[np.isfinite(np.ravel(a))] for a in arrays])
    return finite.size > 0 and bool(np.all(finite > 0))
