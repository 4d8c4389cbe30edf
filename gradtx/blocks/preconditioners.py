"""G_t: the adaptive scalings 1/√(G_t + ε) of the unified update.

Notation (the lecture's): g the gradient, ⊙ elementwise, r the accumulated
squares, ρ a decay, t the update number (1 for the first update), and two
places for the small constant:

    u = g / (√(G_t + ε_root) + ε)

``eps`` (ε) sits outside the square root as in the lecture's algorithm boxes,
``eps_root`` (ε_root) inside as in its unified formula; either may be zero (a zero
gradient still gives a zero update). For complex leaves g ⊙ g means |g|² = g·conj(g).
Second moments of float16 params are stored in float32 and those of complex params
in their real dtype, unless ``nu_dtype`` says otherwise (see ``gradtx.core.numerics``).
Every rule below is written for one array and lifted to pytrees by
``gradtx.core.lift.per_array``.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.core.base import GradientTransformation
from gradtx.core.block import block
from gradtx.core.hyperparams import HyperParams, hyperparam_dtype
from gradtx.core.lift import per_array
from gradtx.core.numerics import abs_sq, divide, update_number
from gradtx.core.tree import tree_full_like, tree_moment_zeros, tree_zeros_like
from gradtx.core.validate import NONNEGATIVE, UNIT_OPEN, check_bool, check_interval

__all__ = [
    "ScaleByRssState",
    "ScaleByRmsState",
    "ScaleByAdamState",
    "ScaleByAdadeltaState",
    "ScaleByAdamaxState",
    "ScaleByAmsgradState",
    "scale_by_rss",
    "scale_by_rms",
    "scale_by_adam",
    "scale_by_adadelta",
    "scale_by_adamax",
    "scale_by_amsgrad",
]


def _bias_correction(decay: jax.Array, step: jax.Array) -> jax.Array:
    """1 − ρ^t with t = step + 1, computed in ρ's dtype (right at the saturated counter)."""
    return 1 - decay ** update_number(step, decay.dtype)


def nesterov_coefficients(rho1: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(c_s, c_g) of NAdam's debiased look-ahead ŝ = c_s s + c_g g with constant μ = ρ1:
    c_s = ρ1 / (1 − ρ1^{t+1}), c_g = (1 − ρ1) / (1 − ρ1^t), t the update number."""
    return rho1 / (1 - rho1 ** (t + 1)), (1 - rho1) / (1 - rho1**t)


class ScaleByRssState(NamedTuple):
    """AdaGrad's sum of squared gradients r."""

    sum_of_squares: Any
    hyperparams: dict[str, Any]


def scale_by_rss(
    eps: float = 1e-10, eps_root: float = 0.0, initial_accumulator_value: float = 0.0
) -> GradientTransformation:
    """AdaGrad's preconditioner (Duchi et al. 2011).

        r ← r + g ⊙ g,      u = g / (√(r + ε_root) + ε)

    Args:
      eps: ε outside the square root (torch's ``eps``; its default 1e-10).
      eps_root: ε_root inside the square root.
      initial_accumulator_value: r_0 ≥ 0 (torch: 0; optax: 0.1).
    """
    owner = "scale_by_rss"
    check_interval(owner, "initial_accumulator_value", initial_accumulator_value, low=0.0,
                   allow_schedule=False)
    hyper = HyperParams(owner, eps=(eps, NONNEGATIVE), eps_root=(eps_root, NONNEGATIVE))

    def init(params, hyperparams):
        return ScaleByRssState(
            tree_full_like(params, initial_accumulator_value, moment=True), hyperparams)

    def update(updates, state, params, h, step, **extra):
        def rule(g, r):
            r = r + abs_sq(g)
            return divide(g, jnp.sqrt(r + h["eps_root"]) + h["eps"]), r

        updates, r = per_array(rule, updates, state.sum_of_squares, what=owner)
        return updates, state._replace(sum_of_squares=r)

    return block(owner, ScaleByRssState, hyper, init, update)


class ScaleByRmsState(NamedTuple):
    """RMSProp's moving average of squares r (and of gradients m, when centered)."""

    nu: Any
    mu: Any
    hyperparams: dict[str, Any]


def scale_by_rms(
    decay: float = 0.99,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    centered: bool = False,
    initial_scale: float = 0.0,
    *,
    bias_correction: bool = False,
) -> GradientTransformation:
    """RMSProp's preconditioner (Tieleman & Hinton 2012).

        r ← ρ r + (1 − ρ) g ⊙ g,      u = g / (√(r + ε_root) + ε)

    Centered (Graves 2013): m ← ρ m + (1 − ρ) g and r is replaced by r − m ⊙ m.
    With ``bias_correction``, r (and m) are read debiased, r̂ = r / (1 − ρ^t) as in
    Adam (optax's ``bias_correction=True``; then ``scale_by_rms(ρ, ε, bias_correction=True)``
    is ``scale_by_adam(0, ρ, ε)`` without the first moment).

    Args:
      decay: ρ in [0, 1) (torch's ``alpha``, default 0.99).
      eps: ε outside the square root (torch's ``eps``).
      eps_root: ε_root inside the square root.
      centered: subtract the squared mean gradient.
      initial_scale: r_0 (torch: 0).
      bias_correction: divide r (and m) by 1 − ρ^t.
    """
    owner = "scale_by_rms"
    check_bool(owner, "centered", centered)
    check_bool(owner, "bias_correction", bias_correction)
    check_interval(owner, "initial_scale", initial_scale, low=0.0, allow_schedule=False)
    hyper = HyperParams(owner, decay=(decay, UNIT_OPEN), eps=(eps, NONNEGATIVE),
                        eps_root=(eps_root, NONNEGATIVE))

    def init(params, hyperparams):
        mu = tree_zeros_like(params) if centered else None
        return ScaleByRmsState(tree_full_like(params, initial_scale, moment=True), mu,
                               hyperparams)

    def update(updates, state, params, h, step, **extra):
        rho, eps_, eps_root_ = h["decay"], h["eps"], h["eps_root"]
        bc = _bias_correction(rho, step) if bias_correction else 1
        if centered:
            def rule(g, r, m):
                r = rho * r + (1 - rho) * abs_sq(g)
                m = rho * m + (1 - rho) * g
                variance = jnp.maximum(r / bc - abs_sq(m / bc), 0)  # ≥ 0 in exact arithmetic
                return divide(g, jnp.sqrt(variance + eps_root_) + eps_), r, m

            updates, nu, mu = per_array(rule, updates, state.nu, state.mu, what=owner)
        else:
            def plain_rule(g, r):
                r = rho * r + (1 - rho) * abs_sq(g)
                return divide(g, jnp.sqrt(r / bc + eps_root_) + eps_), r

            updates, nu = per_array(plain_rule, updates, state.nu, what=owner)
            mu = None
        return updates, state._replace(nu=nu, mu=mu)

    return block(owner, ScaleByRmsState, hyper, init, update, uses_step=bias_correction)


class ScaleByAdamState(NamedTuple):
    """Adam's first moment s (``mu``) and second moment r (``nu``).

    ``mu_product`` is Π_{i≤t} μ_i, used by NAdam's momentum schedule.
    """

    mu: Any
    nu: Any
    mu_product: jax.Array
    hyperparams: dict[str, Any]


def scale_by_adam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    *,
    nesterov: bool = False,
    momentum_decay: float | None = None,
    mu_dtype: Any = None,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """Adam's moments (Kingma & Ba 2015), optionally with Nesterov momentum (NAdam).

        s ← ρ1 s + (1 − ρ1) g,   r ← ρ2 r + (1 − ρ2) g ⊙ g
        ŝ = s / (1 − ρ1^t),      r̂ = r / (1 − ρ2^t)
        u = ŝ / (√(r̂ + ε_root) + ε)

    NAdam (Dozat 2016), with momentum coefficients μ_t and Π_t = μ_1⋯μ_t:

        u = (μ_{t+1} s / (1 − Π_{t+1}) + (1 − μ_t) g / (1 − Π_t)) / (√(r̂ + ε_root) + ε)

    where μ_t = ρ1 (constant; optax's ``nadam``), or, when ``momentum_decay`` ψ
    is given, μ_t = ρ1 (1 − ½ · 0.96^{tψ}) (the paper's schedule, torch's NAdam).

    Args:
      b1: ρ1 in [0, 1). b2: ρ2 in [0, 1). eps: ε ≥ 0 outside the root.
      eps_root: ε_root ≥ 0 inside the root.
      nesterov: use NAdam's Nesterov momentum.
      momentum_decay: ψ ≥ 0 for NAdam's momentum schedule (requires ``nesterov``).
      mu_dtype, nu_dtype: storage dtypes of the moments (default: the params', except
        ν of float16 params in float32 and of complex params in their real dtype);
        the arithmetic is float32 or wider whatever they are.
    """
    owner = "scale_by_adam"
    check_bool(owner, "nesterov", nesterov)
    if momentum_decay is not None:
        if not nesterov:
            raise ValueError(f"{owner}: momentum_decay is NAdam's and requires nesterov=True")
        check_interval(owner, "momentum_decay", momentum_decay, low=0.0, allow_schedule=False)
    hyper = HyperParams(owner, b1=(b1, UNIT_OPEN), b2=(b2, UNIT_OPEN), eps=(eps, NONNEGATIVE),
                        eps_root=(eps_root, NONNEGATIVE))

    def init(params, hyperparams):
        return ScaleByAdamState(
            mu=tree_zeros_like(params, mu_dtype),
            nu=tree_moment_zeros(params, nu_dtype),
            mu_product=jnp.ones([], hyperparam_dtype(params)),
            hyperparams=hyperparams,
        )

    def update(updates, state, params, h, step, **extra):
        rho1, rho2, eps_, eps_root_ = h["b1"], h["b2"], h["eps"], h["eps_root"]
        bc2 = _bias_correction(rho2, step)
        mu_product = state.mu_product
        if not nesterov:
            bc1 = _bias_correction(rho1, step)

            def rule(g, s, r):
                s = rho1 * s + (1 - rho1) * g
                r = rho2 * r + (1 - rho2) * abs_sq(g)
                return divide(s / bc1, jnp.sqrt(r / bc2 + eps_root_) + eps_), s, r
        else:
            t = update_number(step, rho1.dtype)
            if momentum_decay is not None:
                mu_t = rho1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
                mu_next = rho1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
                mu_product = state.mu_product * mu_t
                prod_next = mu_product * mu_next
                c_s = mu_next / (1 - prod_next)
                c_g = (1 - mu_t) / (1 - mu_product)
            else:
                mu_product = rho1**t
                c_s, c_g = nesterov_coefficients(rho1, t)

            def rule(g, s, r):
                s = rho1 * s + (1 - rho1) * g
                r = rho2 * r + (1 - rho2) * abs_sq(g)
                return divide(c_s * s + c_g * g, jnp.sqrt(r / bc2 + eps_root_) + eps_), s, r

        updates, mu, nu = per_array(rule, updates, state.mu, state.nu, what=owner)
        return updates, state._replace(mu=mu, nu=nu, mu_product=mu_product)

    return block(owner, ScaleByAdamState, hyper, init, update, uses_step=True)


class ScaleByAdadeltaState(NamedTuple):
    """AdaDelta's averages of squared gradients and of squared updates."""

    e_g2: Any
    e_dx2: Any
    hyperparams: dict[str, Any]


def scale_by_adadelta(
    rho: float = 0.9, eps: float = 0.0, eps_root: float = 1e-6
) -> GradientTransformation:
    """AdaDelta (Zeiler 2012), the units-corrected AdaGrad/RMSProp.

        E[g²] ← ρ E[g²] + (1 − ρ) g ⊙ g
        u = √(E[Δ²] + ε_root) / (√(E[g²] + ε_root) + ε) ⊙ g
        E[Δ²] ← ρ E[Δ²] + (1 − ρ) u ⊙ u

    The paper's and torch's ε is ``eps_root`` (inside both roots, 1e-6);
    the paper uses no learning rate (α = 1, torch's default ``lr=1.0``).
    """
    owner = "scale_by_adadelta"
    hyper = HyperParams(owner, rho=(rho, UNIT_OPEN), eps=(eps, NONNEGATIVE),
                        eps_root=(eps_root, NONNEGATIVE))

    def init(params, hyperparams):
        return ScaleByAdadeltaState(tree_moment_zeros(params), tree_moment_zeros(params),
                                    hyperparams)

    def update(updates, state, params, h, step, **extra):
        rho_, eps_, eps_root_ = h["rho"], h["eps"], h["eps_root"]

        def rule(g, e_g2, e_dx2):
            e_g2 = rho_ * e_g2 + (1 - rho_) * abs_sq(g)
            u = divide(jnp.sqrt(e_dx2 + eps_root_) * g, jnp.sqrt(e_g2 + eps_root_) + eps_)
            e_dx2 = rho_ * e_dx2 + (1 - rho_) * abs_sq(u)
            return u, e_g2, e_dx2

        updates, e_g2, e_dx2 = per_array(rule, updates, state.e_g2, state.e_dx2, what=owner)
        return updates, state._replace(e_g2=e_g2, e_dx2=e_dx2)

    return block(owner, ScaleByAdadeltaState, hyper, init, update)


class ScaleByAdamaxState(NamedTuple):
    """AdaMax's first moment and exponentially weighted infinity norm."""

    mu: Any
    nu: Any
    hyperparams: dict[str, Any]


def scale_by_adamax(
    b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, eps_root: float = 0.0
) -> GradientTransformation:
    """AdaMax (Kingma & Ba 2015, §7), Adam with the infinity norm.

        s ← ρ1 s + (1 − ρ1) g,   n ← max(ρ2 n, |g| + ε_root)
        u = s / (1 − ρ1^t) / (n + ε)

    torch's and optax's ``eps`` are ``eps_root`` here (added to |g| inside the
    max): ``scale_by_adamax(eps=0, eps_root=ε)``; the paper has no ε.
    """
    owner = "scale_by_adamax"
    hyper = HyperParams(owner, b1=(b1, UNIT_OPEN), b2=(b2, UNIT_OPEN), eps=(eps, NONNEGATIVE),
                        eps_root=(eps_root, NONNEGATIVE))

    def init(params, hyperparams):
        return ScaleByAdamaxState(tree_zeros_like(params), tree_moment_zeros(params),
                                  hyperparams)

    def update(updates, state, params, h, step, **extra):
        rho1, rho2, eps_, eps_root_ = h["b1"], h["b2"], h["eps"], h["eps_root"]
        bc1 = _bias_correction(rho1, step)

        def rule(g, s, n):
            s = rho1 * s + (1 - rho1) * g
            n = jnp.maximum(rho2 * n, jnp.abs(g) + eps_root_)
            return divide(s / bc1, n + eps_), s, n

        updates, mu, nu = per_array(rule, updates, state.mu, state.nu, what=owner)
        return updates, state._replace(mu=mu, nu=nu)

    return block(owner, ScaleByAdamaxState, hyper, init, update, uses_step=True)


class ScaleByAmsgradState(NamedTuple):
    """AMSGrad's moments and the running maximum of the raw second moment."""

    mu: Any
    nu: Any
    nu_max: Any
    hyperparams: dict[str, Any]


def scale_by_amsgrad(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    *,
    max_of: Literal["raw", "debiased"] = "raw",
    bias_correction_mu: bool = True,
    bias_correction_nu: bool = True,
    mu_dtype: Any = None,
) -> GradientTransformation:
    """AMSGrad (Reddi et al. 2018), with the maximum over the raw second moment.

        s ← ρ1 s + (1 − ρ1) g,   r ← ρ2 r + (1 − ρ2) g ⊙ g,   r_max ← max(r_max, r)
        u = s / (1 − ρ1^t) / (√(r_max / (1 − ρ2^t) + ε_root) + ε)

    The maximum is taken before bias correction, as torch does (``max_of="raw"``).
    ``max_of="debiased"`` is optax's form, r_max ← max(r_max, r / (1 − ρ2^t)) and
    u = ŝ / (√(r_max + ε_root) + ε). Without ``bias_correction_nu`` r is not debiased
    at all and without ``bias_correction_mu`` s is not: both off is the paper's
    Algorithm 2 (``max_of`` is then immaterial).

    Args:
      b1: ρ1 in [0, 1). b2: ρ2 in [0, 1). eps: ε ≥ 0. eps_root: ε_root ≥ 0.
      max_of: the maximum of the ``"raw"`` or of the ``"debiased"`` second moment.
      bias_correction_mu, bias_correction_nu: debias s, r.
      mu_dtype: storage dtype of s (default: the params').
    """
    owner = "scale_by_amsgrad"
    if max_of not in ("raw", "debiased"):
        raise ValueError(f"{owner}: max_of must be 'raw' or 'debiased', got {max_of!r}")
    check_bool(owner, "bias_correction_mu", bias_correction_mu)
    check_bool(owner, "bias_correction_nu", bias_correction_nu)
    hyper = HyperParams(owner, b1=(b1, UNIT_OPEN), b2=(b2, UNIT_OPEN), eps=(eps, NONNEGATIVE),
                        eps_root=(eps_root, NONNEGATIVE))

    def init(params, hyperparams):
        return ScaleByAmsgradState(tree_zeros_like(params, mu_dtype), tree_moment_zeros(params),
                                   tree_moment_zeros(params), hyperparams)

    def update(updates, state, params, h, step, **extra):
        rho1, rho2, eps_, eps_root_ = h["b1"], h["b2"], h["eps"], h["eps_root"]
        bc1 = _bias_correction(rho1, step) if bias_correction_mu else 1
        bc2 = _bias_correction(rho2, step) if bias_correction_nu else 1
        before, after = (bc2, 1) if max_of == "debiased" else (1, bc2)

        def rule(g, s, r, r_max):
            s = rho1 * s + (1 - rho1) * g
            r = rho2 * r + (1 - rho2) * abs_sq(g)
            r_max = jnp.maximum(r_max, r / before)
            return divide(s / bc1, jnp.sqrt(r_max / after + eps_root_) + eps_), s, r, r_max

        updates, mu, nu, nu_max = per_array(
            rule, updates, state.mu, state.nu, state.nu_max, what=owner
        )
        return updates, state._replace(mu=mu, nu=nu, nu_max=nu_max)

    return block(owner, ScaleByAmsgradState, hyper, init, update, uses_step=True)
