"""Running a parity suite in both execution paths (SPEC §8: the path must not change results).

``in_path(tx, "tree")`` is ``tx`` itself (rules run once per leaf);
``in_path(tx, "flat")`` is ``gradtx.flat.flatten(tx)``: the same tree-in, tree-out
transform whose every rule runs on the flat buffers of ``gradtx.flat.ravel``
(elementwise rules once per bucket, per-layer norms as segment reductions,
shape-needing rules on per-leaf views), with its state kept flat.
"""

import gradtx as gt


def in_path(tx, path):
    if path == "tree":
        return tx
    if path == "flat":
        return gt.flat.flatten(tx)
    raise ValueError(f"unknown path {path!r}")
