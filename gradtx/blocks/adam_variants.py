"""Building blocks of Adam's descendants: RAdam, AdaBelief, Yogi, Adan, NovoGrad, Optimistic Adam.

Notation as in ``gradtx.blocks.preconditioners``: g the gradient (the
incoming update), s the first moment (decay ρ1), r the second moment (decay
ρ2), t the update number (1 for the first update), ŝ = s / (1 − ρ1^t) and
r̂ = r / (1 − ρ2^t) the debiased moments, ε outside and ε_root inside the square
root. For complex leaves every square is |g|² = g·conj(g) and every norm the norm
of the real pair. Every rule is written for one array and lifted by
``gradtx.core.lift.per_array`` (NovoGrad's per-layer norm by
``gradtx.core.lift.per_leaf``); a zero gradient gives a zero update (0/0 = 0,
``gradtx.core.numerics.divide``) unless a docstring says otherwise.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx.blocks.preconditioners import nesterov_coefficients
from gradtx.core.base import GradientTransformation
from gradtx.core.block import block
from gradtx.core.hyperparams import HyperParams
from gradtx.core.lift import leaf_tree, per_array, per_leaf
from gradtx.core.numerics import abs_sq, divide, is_trainable, second_moment_dtype, update_number
from gradtx.core.tree import tree_full_like, tree_moment_zeros, tree_zeros_like
from gradtx.core.validate import (
    NONNEGATIVE,
    UNIT_OPEN,
    Interval,
    check_bool,
    check_interval,
)

__all__ = [
    "ScaleByRadamState",
    "ScaleByBeliefState",
    "ScaleByYogiState",
    "ScaleByAdanState",
    "LayerSecondMomentState",
    "scale_by_radam",
    "scale_by_belief",
    "scale_by_yogi",
    "scale_by_adan",
    "scale_by_layer_second_moment",
]

TRACTABLE = Interval(low=4.0)
"""RAdam's threshold on ρ_t: the rectification r_t is real only for ρ_t ≥ 4."""


def _bias_correction(decay: jax.Array, t: jax.Array) -> jax.Array:
    """1 − ρ^t, in ρ's dtype."""
    return 1 - decay**t


class ScaleByRadamState(NamedTuple):
    """RAdam's first moment s (``mu``) and second moment r (``nu``)."""

    mu: Any
    nu: Any
    hyperparams: dict[str, Any]


def scale_by_radam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    threshold: float = 5.0,
    *,
    nesterov: bool = False,
    eps_on_raw_moment: bool = False,
    mu_dtype: Any = None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """Rectified Adam (Liu et al. 2019, "On the Variance of the Adaptive Learning Rate").

        s ← ρ1 s + (1 − ρ1) g,   r ← ρ2 r + (1 − ρ2) g ⊙ g
        ρ_∞ = 2 / (1 − ρ2) − 1,  ρ_t = ρ_∞ − 2 t ρ2^t / (1 − ρ2^t)
        r_t = √((ρ_t − 4)(ρ_t − 2) ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2) ρ_t))
        u = r_t ŝ / (√(r̂ + ε_root) + ε)      if ρ_t ≥ threshold
        u = ŝ                                  otherwise (SGD with momentum)

    The threshold is where the variance of the adaptive rate counts as tractable:
    the paper's Algorithm 2 tests ρ_t > 4 (``threshold=4``); optax tests
    ρ_t ≥ 5 and torch ρ_t > 5, which differ only when ρ_t is exactly 5. The
    default is optax's. Values below 4 are rejected, since r_t is not real there.

    ε placement: by default ε is added to √r̂ (optax). With ``eps_on_raw_moment``
    it is added to the raw root and the debiasing applied after, as torch's
    ``RAdam`` does: u = r_t ŝ √(1 − ρ2^t) / (√(r + ε_root) + ε). The paper has no ε.

    With ``nesterov`` ŝ is NAdam's look-ahead ρ1 s / (1 − ρ1^{t+1}) + (1 − ρ1) g / (1 − ρ1^t)
    (optax's ``nesterov``).

    Args:
      b1: ρ1 in [0, 1). b2: ρ2 in [0, 1). eps: ε ≥ 0. eps_root: ε_root ≥ 0.
      threshold: the tractability threshold on ρ_t, in [4, ∞).
      nesterov: use the look-ahead ŝ.
      eps_on_raw_moment: torch's ε placement.
      mu_dtype, nu_dtype: storage dtypes of s and r (see [`gradtx.scale_by_adam`][]).
    """
    owner = "scale_by_radam"
    check_bool(owner, "nesterov", nesterov)
    check_bool(owner, "eps_on_raw_moment", eps_on_raw_moment)
    hyper = HyperParams(owner, b1=(b1, UNIT_OPEN), b2=(b2, UNIT_OPEN), eps=(eps, NONNEGATIVE),
                        eps_root=(eps_root, NONNEGATIVE), threshold=(threshold, TRACTABLE))

    def init(params, hyperparams):
        return ScaleByRadamState(tree_zeros_like(params, mu_dtype),
                                 tree_moment_zeros(params, nu_dtype), hyperparams)

    def update(updates, state, params, h, step, **extra):
        rho1, rho2, eps_, eps_root_ = h["b1"], h["b2"], h["eps"], h["eps_root"]
        t = update_number(step, rho2.dtype)
        bc1, bc2 = _bias_correction(rho1, t), _bias_correction(rho2, t)
        rho_inf = 2 / (1 - rho2) - 1
        rho_t = rho_inf - 2 * t * rho2**t / bc2
        tractable = rho_t >= h["threshold"]
        # threshold ≥ 4 makes the ratio ≥ 0 wherever it is used; elsewhere it is replaced.
        ratio = (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        rect = jnp.sqrt(jnp.where(tractable, ratio, 1))
        c_s, c_g = nesterov_coefficients(rho1, t) if nesterov else (1 / bc1, 0)

        def rule(g, s, r):
            s = rho1 * s + (1 - rho1) * g
            r = rho2 * r + (1 - rho2) * abs_sq(g)
            s_hat = c_s * s + c_g * g if nesterov else s / bc1
            if eps_on_raw_moment:
                denominator = (jnp.sqrt(r + eps_root_) + eps_) / jnp.sqrt(bc2)
            else:
                denominator = jnp.sqrt(r / bc2 + eps_root_) + eps_
            return jnp.where(tractable, divide(rect * s_hat, denominator), s_hat), s, r

        updates, mu, nu = per_array(rule, updates, state.mu, state.nu, what=owner)
        return updates, state._replace(mu=mu, nu=nu)

    return block(owner, ScaleByRadamState, hyper, init, update, uses_step=True)


class ScaleByBeliefState(NamedTuple):
    """AdaBelief's first moment s (``mu``) and the EMA of (g − s)² (``nu``)."""

    mu: Any
    nu: Any
    hyperparams: dict[str, Any]


def scale_by_belief(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
    *,
    nesterov: bool = False,
    mu_dtype: Any = None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """AdaBelief (Zhuang et al. 2020): Adam with the "belief" (g − s)² in place of g².

        s ← ρ1 s + (1 − ρ1) g
        r ← ρ2 r + (1 − ρ2) (g − s) ⊙ (g − s) + ε_root
        u = ŝ / (√r̂ + ε)

    The new s enters g − s. ε_root is added to the stored r at every step, before
    the debiasing, as in the paper's Algorithm 2 and optax; ε sits outside the root.
    Defaults ε = ε_root = 1e-16 are optax's and the authors' code's. With
    ``nesterov``, ŝ is NAdam's look-ahead (optax's ``nesterov``).

    Args:
      b1: ρ1 in [0, 1). b2: ρ2 in [0, 1). eps: ε ≥ 0. eps_root: ε_root ≥ 0.
      nesterov: use the look-ahead ŝ.
      mu_dtype, nu_dtype: storage dtypes of s and r.
    """
    owner = "scale_by_belief"
    check_bool(owner, "nesterov", nesterov)
    hyper = HyperParams(owner, b1=(b1, UNIT_OPEN), b2=(b2, UNIT_OPEN), eps=(eps, NONNEGATIVE),
                        eps_root=(eps_root, NONNEGATIVE))

    def init(params, hyperparams):
        return ScaleByBeliefState(tree_zeros_like(params, mu_dtype),
                                  tree_moment_zeros(params, nu_dtype), hyperparams)

    def update(updates, state, params, h, step, **extra):
        rho1, rho2, eps_, eps_root_ = h["b1"], h["b2"], h["eps"], h["eps_root"]
        t = update_number(step, rho2.dtype)
        bc1, bc2 = _bias_correction(rho1, t), _bias_correction(rho2, t)
        c_s, c_g = nesterov_coefficients(rho1, t) if nesterov else (1 / bc1, 0)

        def rule(g, s, r):
            s = rho1 * s + (1 - rho1) * g
            r = rho2 * r + (1 - rho2) * abs_sq(g - s) + eps_root_
            s_hat = c_s * s + c_g * g if nesterov else s / bc1
            return divide(s_hat, jnp.sqrt(r / bc2) + eps_), s, r

        updates, mu, nu = per_array(rule, updates, state.mu, state.nu, what=owner)
        return updates, state._replace(mu=mu, nu=nu)

    return block(owner, ScaleByBeliefState, hyper, init, update, uses_step=True)


class ScaleByYogiState(NamedTuple):
    """Yogi's first moment s (``mu``) and additive second moment r (``nu``)."""

    mu: Any
    nu: Any
    hyperparams: dict[str, Any]


def scale_by_yogi(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-3,
    eps_root: float = 0.0,
    initial_accumulator_value: float = 1e-6,
    *,
    initial_mu: float = 0.0,
    mu_dtype: Any = None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """Yogi (Zaheer et al. 2018): Adam whose second moment moves additively, by sign.

        s ← ρ1 s + (1 − ρ1) g
        r ← r − (1 − ρ2) sign(r − g ⊙ g) ⊙ g ⊙ g
        u = ŝ / (√(r̂ + ε_root) + ε)

    r changes by at most (1 − ρ2) g² per step, up or down, so the effective rate
    α/√r̂ cannot jump the way Adam's does after a burst of small gradients.
    r_0 = ``initial_accumulator_value`` (1e-6, optax's). s and r are debiased by
    1 − ρ^t as optax (and TensorFlow Addons) do.

    ``initial_mu`` is s_0, 0 as in the paper. optax's ``scale_by_yogi`` starts s
    at ``initial_accumulator_value`` too; ``initial_mu=1e-6`` reproduces it, at
    the price that a zero gradient then gives a (tiny) nonzero update.

    Args:
      b1: ρ1 in [0, 1). b2: ρ2 in [0, 1). eps: ε ≥ 0 (1e-3, the paper's).
      eps_root: ε_root ≥ 0. initial_accumulator_value: r_0 ≥ 0.
      initial_mu: s_0, a real number.
      mu_dtype, nu_dtype: storage dtypes of s and r.
    """
    owner = "scale_by_yogi"
    check_interval(owner, "initial_accumulator_value", initial_accumulator_value, low=0.0,
                   allow_schedule=False)
    check_interval(owner, "initial_mu", initial_mu, allow_schedule=False)
    hyper = HyperParams(owner, b1=(b1, UNIT_OPEN), b2=(b2, UNIT_OPEN), eps=(eps, NONNEGATIVE),
                        eps_root=(eps_root, NONNEGATIVE))

    def init(params, hyperparams):
        return ScaleByYogiState(
            tree_full_like(params, initial_mu, mu_dtype),
            tree_full_like(params, initial_accumulator_value, nu_dtype, moment=True),
            hyperparams)

    def update(updates, state, params, h, step, **extra):
        rho1, rho2, eps_, eps_root_ = h["b1"], h["b2"], h["eps"], h["eps_root"]
        t = update_number(step, rho2.dtype)
        bc1, bc2 = _bias_correction(rho1, t), _bias_correction(rho2, t)

        def rule(g, s, r):
            g2 = abs_sq(g)
            s = rho1 * s + (1 - rho1) * g
            r = r - (1 - rho2) * jnp.sign(r - g2) * g2
            return divide(s / bc1, jnp.sqrt(r / bc2 + eps_root_) + eps_), s, r

        updates, mu, nu = per_array(rule, updates, state.mu, state.nu, what=owner)
        return updates, state._replace(mu=mu, nu=nu)

    return block(owner, ScaleByYogiState, hyper, init, update, uses_step=True)


class ScaleByAdanState(NamedTuple):
    """Adan's moments: of g (``mu``), of g − g_prev (``delta``), of the squared term (``nu``),
    and the previous gradient (``prev_grad``)."""

    mu: Any
    delta: Any
    nu: Any
    prev_grad: Any
    hyperparams: dict[str, Any]


def scale_by_adan(
    b1: float = 0.98,
    b2: float = 0.92,
    b3: float = 0.99,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    *,
    difference_weight: Literal["b2", "1-b2"] = "b2",
    mu_dtype: Any = None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """Adan, adaptive Nesterov momentum (Xie et al. 2022, Algorithm 1).

    With Δ = g − g_prev (0 at the first update):

        s ← ρ1 s + (1 − ρ1) g,     d ← ρ2 d + (1 − ρ2) Δ
        w = g + ρ2 Δ,             r ← ρ3 r + (1 − ρ3) w ⊙ w
        u = (ŝ + ρ2 d̂) / (√(r̂ + ε_root) + ε),   ŝ, d̂, r̂ debiased by 1 − ρ_k^t

    The decays are the complements of the paper's, ρ_k = 1 − β_k (paper
    β = (0.02, 0.08, 0.01)), as in the authors' code and optax; the paper's
    (1 − β2) Δ and (1 − β2) d are therefore ρ2 Δ and ρ2 d. optax 0.2.8's
    ``scale_by_adan`` uses (1 − ρ2) there instead (0.08 for 0.92; the two agree
    at ρ2 = ½ and on the first update, where Δ = 0); this block follows the
    paper and the authors' code, and ``difference_weight="1-b2"`` gives optax's
    weight c = 1 − ρ2 in both places (w = g + c Δ, u = (ŝ + c d̂) / …). The paper
    starts with s = g_0, r = g_0²; the authors' code, optax and this block start at 0
    and debias.

    Args:
      b1, b2, b3: ρ1, ρ2, ρ3 in [0, 1). eps: ε ≥ 0. eps_root: ε_root ≥ 0.
      difference_weight: the weight c of the gradient difference, ``"b2"`` (ρ2, the
        paper's) or ``"1-b2"`` (1 − ρ2, optax 0.2.8's).
      mu_dtype: storage dtype of s, d and g_prev. nu_dtype: of r.
    """
    owner = "scale_by_adan"
    if difference_weight not in ("b2", "1-b2"):
        raise ValueError(f"{owner}: difference_weight must be 'b2' or '1-b2', got "
                         f"{difference_weight!r}")
    hyper = HyperParams(owner, b1=(b1, UNIT_OPEN), b2=(b2, UNIT_OPEN), b3=(b3, UNIT_OPEN),
                        eps=(eps, NONNEGATIVE), eps_root=(eps_root, NONNEGATIVE))

    def init(params, hyperparams):
        return ScaleByAdanState(
            mu=tree_zeros_like(params, mu_dtype),
            delta=tree_zeros_like(params, mu_dtype),
            nu=tree_moment_zeros(params, nu_dtype),
            prev_grad=tree_zeros_like(params, mu_dtype),
            hyperparams=hyperparams,
        )

    def update(updates, state, params, h, step, **extra):
        rho1, rho2, rho3 = h["b1"], h["b2"], h["b3"]
        eps_, eps_root_ = h["eps"], h["eps_root"]
        t = update_number(step, rho1.dtype)
        bc1, bc2, bc3 = (_bias_correction(rho, t) for rho in (rho1, rho2, rho3))
        first = jnp.asarray(step) == 0
        c = rho2 if difference_weight == "b2" else 1 - rho2

        def rule(g, s, d, r, g_prev):
            diff = jnp.where(first, jnp.zeros_like(g), g - g_prev)
            s = rho1 * s + (1 - rho1) * g
            d = rho2 * d + (1 - rho2) * diff
            r = rho3 * r + (1 - rho3) * abs_sq(g + c * diff)
            u = divide(s / bc1 + c * (d / bc2), jnp.sqrt(r / bc3 + eps_root_) + eps_)
            return u, s, d, r, g

        updates, mu, delta, nu, prev = per_array(
            rule, updates, state.mu, state.delta, state.nu, state.prev_grad, what=owner)
        return updates, state._replace(mu=mu, delta=delta, nu=nu, prev_grad=prev)

    return block(owner, ScaleByAdanState, hyper, init, update, uses_step=True)


class LayerSecondMomentState(NamedTuple):
    """NovoGrad's second moment: one scalar per array (layer), the EMA of ‖g‖²."""

    nu: Any
    hyperparams: dict[str, Any]


def _layer_moment_zero(x: Any, nu_dtype: Any) -> jax.Array | np.ndarray:
    """A scalar 0 for the layer moment of leaf ``x`` (non-float leaves keep their dtype)."""
    dtype = x.dtype if hasattr(x, "dtype") else jnp.result_type(x)
    if not is_trainable(x):
        return np.zeros((), dtype)
    return jnp.zeros((), second_moment_dtype(dtype, nu_dtype))


def scale_by_layer_second_moment(
    b2: float = 0.25, eps: float = 1e-8, eps_root: float = 0.0, *, nu_dtype: Any = None
) -> GradientTransformation:
    """NovoGrad's layer-wise normalization (Ginsburg et al. 2019, Algorithm 1).

    Per array (one layer), with ‖·‖ its L2 norm:

        v ← ‖g‖²  (first update),   v ← ρ2 v + (1 − ρ2) ‖g‖²  (later)
        u = g / (√(v + ε_root) + ε)

    v is one number per layer, not per entry: NovoGrad's second moment costs no
    memory. The rules run leaf by leaf (``gradtx.core.lift.per_leaf``), so on
    flat params a layer is still one leaf of the original tree. Followed by
    momentum on the normalized gradient (``trace(ρ1)``) this is
    [`gradtx.novograd`][].

    Args:
      b2: ρ2 in [0, 1) (0.25, optax's default).
      eps: ε ≥ 0. eps_root: ε_root ≥ 0.
      nu_dtype: storage dtype of v (default: the real dtype of each param, float32
        for float16).
    """
    owner = "scale_by_layer_second_moment"
    hyper = HyperParams(owner, b2=(b2, UNIT_OPEN), eps=(eps, NONNEGATIVE),
                        eps_root=(eps_root, NONNEGATIVE))

    def init(params, hyperparams):
        return LayerSecondMomentState(
            jax.tree.map(lambda p: _layer_moment_zero(p, nu_dtype), leaf_tree(params)),
            hyperparams)

    def update(updates, state, params, h, step, **extra):
        rho2, eps_, eps_root_ = h["b2"], h["eps"], h["eps_root"]
        first = jnp.asarray(step) == 0

        def moment(v, g):
            norm_sq = jnp.sum(abs_sq(g))
            return (jnp.where(first, norm_sq, rho2 * v + (1 - rho2) * norm_sq),)

        def rule(g, v):
            return (divide(g, jnp.sqrt(v + eps_root_) + eps_),)

        (nu,) = per_leaf(moment, state.nu, shared=(updates,), what=owner)
        (updates,) = per_leaf(rule, updates, shared=(nu,), what=owner)
        return updates, state._replace(nu=nu)

    return block(owner, LayerSecondMomentState, hyper, init, update, uses_step=True)

