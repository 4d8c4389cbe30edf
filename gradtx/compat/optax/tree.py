"""optax 0.2.8's ``optax.tree``: the helpers of
[`gradtx.compat.optax.tree_utils`][gradtx.compat.optax.tree_utils] without their
``tree_`` prefix (``optax.tree.add`` is ``optax.tree_utils.tree_add``)."""

from gradtx.compat.optax.tree_utils import tree_add as add
from gradtx.compat.optax.tree_utils import tree_add_scale as add_scale
from gradtx.compat.optax.tree_utils import tree_allclose as allclose
from gradtx.compat.optax.tree_utils import tree_bias_correction as bias_correction
from gradtx.compat.optax.tree_utils import tree_cast as cast
from gradtx.compat.optax.tree_utils import tree_cast_like as cast_like
from gradtx.compat.optax.tree_utils import tree_clip as clip
from gradtx.compat.optax.tree_utils import tree_conj as conj
from gradtx.compat.optax.tree_utils import tree_div as div
from gradtx.compat.optax.tree_utils import tree_dtype as dtype
from gradtx.compat.optax.tree_utils import tree_full_like as full_like
from gradtx.compat.optax.tree_utils import tree_get as get
from gradtx.compat.optax.tree_utils import tree_get_all_with_path as get_all_with_path
from gradtx.compat.optax.tree_utils import tree_map_params as map_params
from gradtx.compat.optax.tree_utils import tree_max as max  # noqa: A004 (optax's name)
from gradtx.compat.optax.tree_utils import tree_min as min  # noqa: A004
from gradtx.compat.optax.tree_utils import tree_mul as mul
from gradtx.compat.optax.tree_utils import tree_norm as norm
from gradtx.compat.optax.tree_utils import tree_ones_like as ones_like
from gradtx.compat.optax.tree_utils import tree_random_like as random_like
from gradtx.compat.optax.tree_utils import tree_real as real
from gradtx.compat.optax.tree_utils import tree_scale as scale
from gradtx.compat.optax.tree_utils import tree_set as set  # noqa: A004
from gradtx.compat.optax.tree_utils import tree_size as size
from gradtx.compat.optax.tree_utils import tree_split_key_like as split_key_like
from gradtx.compat.optax.tree_utils import tree_sub as sub
from gradtx.compat.optax.tree_utils import tree_sum as sum  # noqa: A004
from gradtx.compat.optax.tree_utils import tree_update_infinity_moment as update_infinity_moment
from gradtx.compat.optax.tree_utils import tree_update_moment as update_moment
from gradtx.compat.optax.tree_utils import (
    tree_update_moment_per_elem_norm as update_moment_per_elem_norm,
)
from gradtx.compat.optax.tree_utils import tree_vdot as vdot
from gradtx.compat.optax.tree_utils import tree_where as where
from gradtx.compat.optax.tree_utils import tree_zeros_like as zeros_like

__all__ = [
    "add", "add_scale", "allclose", "bias_correction", "cast", "cast_like",
    "clip", "conj", "div", "dtype", "full_like", "get", "get_all_with_path", "map_params",
    "max", "min", "mul", "norm", "ones_like", "random_like", "real", "scale", "set", "size",
    "split_key_like", "sub", "sum", "update_infinity_moment", "update_moment",
    "update_moment_per_elem_norm", "vdot", "where", "zeros_like",
]
