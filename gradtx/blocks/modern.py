"""Building blocks of the post-Adam optimizers: Lion, LAMB/LARS, Adafactor, Muon.

Notation as in ``gradtx.blocks.preconditioners``: g the gradient (the
incoming update u), θ the params, ⊙ elementwise, t the update number (1 for the
first update), ‖·‖ the L2 (Frobenius) norm of one array — one layer — and
RMS(x) = ‖x‖ / √(number of entries). Every rule is written for one array and
lifted by ``gradtx.core.lift.per_array`` (per-layer norms as block
reductions, shape-needing rules by ``gradtx.core.lift.per_leaf``); storage
dtypes of the moments are options, the arithmetic is float32 or wider.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
from jax.tree_util import keystr, tree_flatten_with_path

from gradtx.core.base import GradientTransformation, expect_params
from gradtx.core.block import block
from gradtx.core.hyperparams import HyperParams
from gradtx.core.lift import Blocks, leaf_structs, leaf_tree, per_array, per_leaf
from gradtx.core.numerics import abs_sq, divide, second_moment_dtype, sign, update_number
from gradtx.core.tree import tree_zeros_like
from gradtx.core.validate import (
    NONNEGATIVE,
    POSITIVE,
    REAL,
    UNIT,
    UNIT_OPEN,
    check_bool,
    check_number,
)

__all__ = [
    "ScaleByLionState",
    "TrustRatioState",
    "FactoredRmsState",
    "BlockRmsState",
    "ScaleByMuonState",
    "scale_by_lion",
    "scale_by_trust_ratio",
    "scale_by_factored_rms",
    "clip_by_block_rms",
    "scale_by_param_block_rms",
    "scale_by_muon",
    "newton_schulz",
]

MUON_NS_COEFFS = (3.4445, -4.7750, 2.0315)


def _wide(x: jax.Array, like: jax.Array) -> jax.Array:
    """``x`` in the wider of its dtype and ``like``'s (a float32/float64 hyperparameter)."""
    return x.astype(jnp.promote_types(x.dtype, like.dtype))


def _norm(x: jax.Array, blocks: Blocks | None = None) -> jax.Array:
    """‖x‖ (|x|² summed for complex x), over each block of x when ``blocks`` is given."""
    return jnp.sqrt(jnp.sum(abs_sq(x)) if blocks is None else blocks.sum(abs_sq(x)))


def _rms(x: jax.Array, blocks: Blocks) -> jax.Array:
    return jnp.sqrt(blocks.mean(abs_sq(x)))


class ScaleByLionState(NamedTuple):
    """Lion's momentum m."""

    mu: Any
    hyperparams: dict[str, Any]


def scale_by_lion(b1: float = 0.9, b2: float = 0.99, mu_dtype: Any = None, *,
                  mode: Literal["hard", "smooth", "refined"] = "hard",
                  smooth_beta: float = 1.0) -> GradientTransformation:
    """Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms").

        c = ρ1 m + (1 − ρ1) g,     u = sign(c)
        m ← ρ2 m + (1 − ρ2) g

    The update interpolates with ρ1 and the momentum tracks with ρ2; every
    entry of u is ±1 (or 0), so Lion's learning rate is typically 3–10× smaller
    than AdamW's. For complex entries the sign is taken per real component.
    optax's variants of the sign: ``mode="smooth"`` is u = tanh(β c), ``"refined"``
    is u = c where |c| < 1 and sign(c) elsewhere (both for real leaves).

    Args:
      b1: ρ1 in [0, 1]. b2: ρ2 in [0, 1).
      mu_dtype: storage dtype of m (default: the params').
      mode: ``"hard"`` (the sign), ``"smooth"`` or ``"refined"``.
      smooth_beta: β > 0 of ``mode="smooth"``.
    """
    owner = "scale_by_lion"
    if mode not in ("hard", "smooth", "refined"):
        raise ValueError(f"{owner}: mode must be 'hard', 'smooth' or 'refined', got {mode!r}")
    smooth = {"smooth_beta": (smooth_beta, POSITIVE)} if mode == "smooth" else {}
    hyper = HyperParams(owner, b1=(b1, UNIT), b2=(b2, UNIT_OPEN), **smooth)

    def init(params, hyperparams):
        return ScaleByLionState(tree_zeros_like(params, mu_dtype), hyperparams)

    def update(updates, state, params, h, step, **extra):
        rho1, rho2 = h["b1"], h["b2"]

        def direction(c):
            if mode == "smooth":
                return jnp.tanh(h["smooth_beta"] * c)
            if mode == "refined":
                return jnp.where(jnp.abs(c) < 1, c, sign(c))
            return sign(c)

        def rule(g, m):
            c = rho1 * m + (1 - rho1) * g
            return direction(c), rho2 * m + (1 - rho2) * g

        updates, mu = per_array(rule, updates, state.mu, what=owner)
        return updates, state._replace(mu=mu)

    return block(owner, ScaleByLionState, hyper, init, update)


class TrustRatioState(NamedTuple):
    """The state of ``scale_by_trust_ratio``."""

    hyperparams: dict[str, Any]


def scale_by_trust_ratio(
    trust_coefficient: float = 1.0, eps: float = 0.0, weight_decay: float = 0.0
) -> GradientTransformation:
    """Layer-wise trust ratio of LARS and LAMB, per array (one layer):

        u ← η ‖θ‖ / (‖u‖ + λ ‖θ‖ + ε) · (u + λ θ)

    and u ← u + λθ (ratio 1) where ‖θ‖ = 0 or the denominator is 0. With
    λ = 0 this is LAMB's φ(‖θ‖)/‖u‖ (You et al. 2020; optax's
    ``scale_by_trust_ratio``); with λ > 0 it is LARS's local learning rate
    η‖w‖/(‖∇L‖ + β‖w‖) applied to ∇L + βw (You et al. 2017, Alg. 1). Needs the params.

    Args:
      trust_coefficient: η > 0. eps: ε ≥ 0 in the denominator.
      weight_decay: λ ≥ 0, LARS's β (added to u and to the denominator).
    """
    owner = "scale_by_trust_ratio"
    hyper = HyperParams(owner, trust_coefficient=(trust_coefficient, POSITIVE),
                        eps=(eps, NONNEGATIVE), weight_decay=(weight_decay, NONNEGATIVE))

    def init(params, hyperparams):
        del params
        return TrustRatioState(hyperparams)

    def update(updates, state, params, h, step, **extra):
        expect_params(owner, params, updates)
        eta, eps_, lam = h["trust_coefficient"], h["eps"], h["weight_decay"]

        def rule(u, p, blocks):
            u, p = _wide(u, eta), _wide(p, eta)
            p_norm = _norm(p, blocks)
            denominator = _norm(u, blocks) + lam * p_norm + eps_
            ratio = jnp.where((p_norm == 0) | (denominator == 0), 1,
                              eta * p_norm / jnp.where(denominator == 0, 1, denominator))
            return (ratio * (u + lam * p),)

        (updates,) = per_array(rule, updates, shared=(params,), what=owner, blocks=True)
        return updates, state

    return block(owner, TrustRatioState, hyper, init, update)


class FactoredRmsState(NamedTuple):
    """Adafactor's second-moment statistics.

    For a factored array (see [`scale_by_factored_rms`][gradtx.scale_by_factored_rms]) ``v_row`` and
    ``v_col`` hold the row and column means of g ⊙ g and ``v`` is a
    placeholder of shape (1,); otherwise ``v`` holds the full average and
    ``v_row``, ``v_col`` are placeholders.
    """

    v_row: Any
    v_col: Any
    v: Any
    hyperparams: dict[str, Any]


def _factored_dims(shape: tuple[int, ...], factored: bool, min_dim: int
                   ) -> tuple[int, int] | None:
    """(d1, d0): the second-largest and largest axes, if the array is factored."""
    if not factored or len(shape) < 2:
        return None
    order = sorted(range(len(shape)), key=lambda i: shape[i])
    if shape[order[-2]] < min_dim:
        return None
    return order[-2], order[-1]


def scale_by_factored_rms(
    decay_rate: float = 0.8,
    eps: float = 1e-30,
    min_dim_size_to_factor: int = 128,
    factored: bool = True,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """Adafactor's preconditioner (Shazeer & Stern 2018, Alg. 4 and 5).

    With ρ̂_t = 1 − t^{−c} and G² = g ⊙ g + ε1, for an array whose two largest
    axes (rows along d1, columns along d0) both have at least
    ``min_dim_size_to_factor`` entries:

        R ← ρ̂_t R + (1 − ρ̂_t) mean_{d0}(G²),    C ← ρ̂_t C + (1 − ρ̂_t) mean_{d1}(G²)
        V̂ = R C / mean(R),                          u = g / √V̂

    (the paper's R Cᵀ / 1ᵀR with sums; means give the same V̂). Other arrays
    keep the full average V ← ρ̂_t V + (1 − ρ̂_t) G² and u = g / √V. Memory for
    an n×m matrix is n + m instead of n·m. ρ̂_1 = 0.

    Args:
      decay_rate: c, the exponent of ρ̂_t (0.8 in the paper).
      eps: ε1 added to g ⊙ g (1e-30 in the paper).
      min_dim_size_to_factor: arrays whose second-largest axis is shorter are
        not factored.
      factored: set False to keep full second moments everywhere.
      nu_dtype: storage dtype of R, C, V (default: the params').
    """
    owner = "scale_by_factored_rms"
    check_number(owner, "min_dim_size_to_factor", min_dim_size_to_factor, allow_schedule=False)
    check_bool(owner, "factored", factored)
    hyper = HyperParams(owner, decay_rate=(decay_rate, POSITIVE), eps=(eps, NONNEGATIVE))

    def dims(shape):
        return _factored_dims(shape, factored, min_dim_size_to_factor)

    def zeros_from(p, reduce_axis):
        """Zeros of p's shape with ``reduce_axis`` dropped ((1,) for None), computed from p
        (``tree_zeros_like``) so that they are sharded like p on its remaining axes."""
        dtype = second_moment_dtype(p.dtype, nu_dtype)
        if reduce_axis is None:
            return jnp.zeros((1,), dtype)
        return jnp.sum(tree_zeros_like(p, dtype), axis=reduce_axis)

    def init(params, hyperparams):
        def row(p):
            d = dims(p.shape)
            return zeros_from(p, d[1] if d else None)

        def col(p):
            d = dims(p.shape)
            return zeros_from(p, d[0] if d else None)

        def full(p):
            if dims(p.shape):
                return zeros_from(p, None)
            return tree_zeros_like(p, second_moment_dtype(p.dtype, nu_dtype))

        return FactoredRmsState(
            v_row=jax.tree.map(row, leaf_tree(params)),
            v_col=jax.tree.map(col, leaf_tree(params)),
            v=jax.tree.map(full, leaf_tree(params)),
            hyperparams=hyperparams,
        )

    def update(updates, state, params, h, step, **extra):
        c, eps_ = h["decay_rate"], h["eps"]
        t = update_number(step, c.dtype)
        rho = 1 - t ** (-c)

        def g2(g):
            return abs_sq(_wide(g, eps_)) + eps_

        def new_row(r, g):
            d = dims(g.shape)
            return rho * r + (1 - rho) * jnp.mean(g2(g), axis=d[1]) if d else r

        def new_col(col, g):
            d = dims(g.shape)
            return rho * col + (1 - rho) * jnp.mean(g2(g), axis=d[0]) if d else col

        def new_full(v, g):
            return v if dims(g.shape) else rho * v + (1 - rho) * g2(g)

        def rule(g, r, col, v):
            d = dims(g.shape)
            if d is None:
                return (divide(g, jnp.sqrt(new_full(v, g))),)
            d1, d0 = d
            r, col = new_row(r, g), new_col(col, g)
            r_axis = d1 - 1 if d1 > d0 else d1
            row_mean = jnp.mean(r, axis=r_axis, keepdims=True)
            v_hat = (jnp.expand_dims(r / jnp.where(row_mean == 0, 1, row_mean), d0)
                     * jnp.expand_dims(col, d1))
            return (divide(g, jnp.sqrt(v_hat)),)

        old = (state.v_row, state.v_col, state.v)
        (v_row,) = per_leaf(lambda r, g: (new_row(r, g),), state.v_row, shared=(updates,),
                            what=owner)
        (v_col,) = per_leaf(lambda col, g: (new_col(col, g),), state.v_col, shared=(updates,),
                            what=owner)
        (v,) = per_leaf(lambda v, g: (new_full(v, g),), state.v, shared=(updates,), what=owner)
        (updates,) = per_leaf(rule, updates, shared=old, what=owner)
        return updates, state._replace(v_row=v_row, v_col=v_col, v=v)

    return block(owner, FactoredRmsState, hyper, init, update, uses_step=True)


class BlockRmsState(NamedTuple):
    """The state of ``clip_by_block_rms`` and ``scale_by_param_block_rms``."""

    hyperparams: dict[str, Any]


def clip_by_block_rms(threshold: float = 1.0) -> GradientTransformation:
    """Adafactor's update clipping, per array: u ← u / max(1, RMS(u) / d).

    Args:
      threshold: d > 0 (1 in the paper).
    """
    owner = "clip_by_block_rms"
    hyper = HyperParams(owner, threshold=(threshold, POSITIVE))

    def init(params, hyperparams):
        del params
        return BlockRmsState(hyperparams)

    def update(updates, state, params, h, step, **extra):
        d = h["threshold"]
        (updates,) = per_array(
            lambda u, blocks: (u / jnp.maximum(1, _rms(_wide(u, d), blocks) / d),), updates,
            what=owner, blocks=True)
        return updates, state

    return block(owner, BlockRmsState, hyper, init, update)


def scale_by_param_block_rms(min_scale: float = 1e-3) -> GradientTransformation:
    """Adafactor's relative step size, per array: u ← max(ε2, RMS(θ)) · u.

    Needs the params.

    Args:
      min_scale: ε2 ≥ 0 (1e-3 in the paper), the scale of arrays near zero.
    """
    owner = "scale_by_param_block_rms"
    hyper = HyperParams(owner, min_scale=(min_scale, NONNEGATIVE))

    def init(params, hyperparams):
        del params
        return BlockRmsState(hyperparams)

    def update(updates, state, params, h, step, **extra):
        expect_params(owner, params, updates)
        eps2 = h["min_scale"]
        (updates,) = per_array(
            lambda u, p, blocks: (u * jnp.maximum(eps2, _rms(_wide(p, eps2), blocks)),),
            updates, shared=(params,), what=owner, blocks=True)
        return updates, state

    return block(owner, BlockRmsState, hyper, init, update)


def newton_schulz(
    x: jax.Array,
    coeffs: Any = MUON_NS_COEFFS,
    steps: int = 5,
    eps: float | jax.Array = 1e-8,
) -> jax.Array:
    """Approximate orthogonalization of a matrix by the Newton–Schulz quintic.

        X ← X / (‖X‖_F + ε);   repeat: A = X Xᵀ,  X ← a X + (b A + c A²) X

    The iteration keeps the singular vectors and pushes the singular values
    toward 1: with Jordan's coefficients (a, b, c) = (3.4445, −4.7750, 2.0315)
    and 5 steps, those not tiny next to ‖X‖_F land in about [0.7, 1.2] rather
    than exactly at 1, which does not hurt training. A tall matrix is
    transposed first so that A is the smaller Gram matrix. For a complex matrix
    Xᵀ is the conjugate transpose Xᴴ (the iteration then approximates the unitary
    polar factor). A zero matrix gives zero, even with ε = 0.
    """
    a, b, c = (coeffs[i] for i in range(3))
    spec = _explicit_spec(x)
    if spec is not None:  # on an explicit mesh the products need whole rows and columns
        x = jax.sharding.reshard(x, jax.sharding.PartitionSpec())
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.conj().T
    x = divide(x, _norm(x) + eps)
    for _ in range(steps):
        gram = x @ x.conj().T
        x = a * x + (b * gram + c * gram @ gram) @ x
    x = x.conj().T if tall else x
    return x if spec is None else jax.sharding.reshard(x, spec)


def _explicit_spec(x: jax.Array) -> Any:
    """The PartitionSpec of ``x`` if it is sharded along an explicit mesh axis, else None."""
    sharding = getattr(jax.typeof(x), "sharding", None)
    spec = getattr(sharding, "spec", None)
    if spec is None or all(axis is None for axis in spec):
        return None
    return spec


class ScaleByMuonState(NamedTuple):
    """Muon's momentum m."""

    mu: Any
    hyperparams: dict[str, Any]


def _check_matrices(owner: str, tree: Any) -> None:
    for path, leaf in tree_flatten_with_path(tree)[0]:
        if jnp.ndim(leaf) != 2:
            raise ValueError(
                f"{owner}: needs 2-D arrays, got shape {jnp.shape(leaf)} at "
                f"{keystr(path) or '<root>'}; route other leaves elsewhere with "
                "gradtx.partition (gradtx.muon does: they get Adam)"
            )


def scale_by_muon(
    beta: float = 0.95,
    ns_coeffs: tuple[float, float, float] = MUON_NS_COEFFS,
    ns_steps: int = 5,
    eps: float = 1e-8,
    *,
    nesterov: bool = True,
    debias: bool = False,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """Muon's orthogonalized momentum (Jordan et al. 2024), for 2-D weights.

        m ← β m + (1 − β) g
        c = β m + (1 − β) g   (Nesterov)     or   c = m
        u = NS(c) · √max(1, n_out / n_in)

    NS is [`newton_schulz`][gradtx.newton_schulz]; a weight is (n_in, n_out), as Flax's ``Dense``
    kernels are (torch's are (out, in): Jordan's √max(1, rows/cols) is the
    same factor). With ``debias`` the momentum is bias-corrected as in
    optax's ``scale_by_muon``: c = β m / (1 − β^{t+1}) + (1 − β) g / (1 − β^t)
    (Nesterov) or c = m / (1 − β^t). NS normalizes its input, so this only
    changes the mix of m and g in the first steps. Every leaf must be 2-D
    (``ValueError`` naming the path otherwise).

    Args:
      beta: β in [0, 1). ns_coeffs: (a, b, c). ns_steps: iterations (≥ 1).
      eps: ε of the normalization. nesterov: use Nesterov momentum.
      debias: bias-correct the momentum (optax's form).
      mu_dtype: storage dtype of m (default: the params').
    """
    owner = "scale_by_muon"
    if len(tuple(ns_coeffs)) != 3:
        raise ValueError(f"{owner}: ns_coeffs must be three numbers (a, b, c), got {ns_coeffs!r}")
    if isinstance(ns_steps, bool) or not isinstance(ns_steps, int) or ns_steps < 1:
        raise ValueError(f"{owner}: ns_steps must be an int in [1, inf), got {ns_steps!r}")
    check_bool(owner, "nesterov", nesterov)
    check_bool(owner, "debias", debias)
    hyper = HyperParams(owner, beta=(beta, UNIT_OPEN), eps=(eps, NONNEGATIVE),
                        ns_coeffs=(tuple(ns_coeffs), REAL))

    def init(params, hyperparams):
        _check_matrices(owner, leaf_structs(params))
        return ScaleByMuonState(tree_zeros_like(params, mu_dtype), hyperparams)

    def update(updates, state, params, h, step, **extra):
        _check_matrices(owner, leaf_structs(updates))
        b = h["beta"]
        if debias:
            t = update_number(step, b.dtype)
            c_m, c_g = (b / (1 - b ** (t + 1)), (1 - b) / (1 - b**t)) if nesterov else (
                1 / (1 - b**t), 0)
        else:
            c_m, c_g = (b, 1 - b) if nesterov else (1, 0)

        def rule(g, m):
            m = b * m + (1 - b) * g
            o = newton_schulz(c_m * m + c_g * g, h["ns_coeffs"], ns_steps, h["eps"])
            return o * jnp.sqrt(max(1.0, g.shape[1] / g.shape[0])), m

        updates, mu = per_leaf(rule, updates, state.mu, what=owner)
        return updates, state._replace(mu=mu)

    return block(owner, ScaleByMuonState, hyper, init, update, uses_step=debias)

