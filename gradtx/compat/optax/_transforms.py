"""optax 0.2.8's gradient transformations: optax's names, signatures, defaults and state
layout, each binding a gradtx building block (through ``_layout.optax_layout``).

No formula lives here. Where optax's formula differs from gradtx's default, the gradtx
block has an option for optax's (``scale_by_amsgrad(max_of="debiased")``,
``scale_by_adan(difference_weight="1-b2")``, ``scale_by_rprop(lagged=True)``) and the
binding sets it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

import gradtx as gt
from gradtx.blocks.extras import centralize as _centralize
from gradtx.blocks.extras import set_to_zero, zero_nans
from gradtx.compat.optax import _states as st
from gradtx.compat.optax._layout import Field, Step, at, optax_layout, stateless_layout
from gradtx.compat.optax._wrappers import masked as _masked
from gradtx.core.base import EmptyState, GradientTransformation, expect_params, identity
from gradtx.core.numerics import abs_sq, sign
from gradtx.optimizers.lbfgs import scale_by_backtracking_linesearch, scale_by_zoom_linesearch
from gradtx.wrappers.optax_extras import apply_every

__all__ = [
    "add_decayed_weights",
    "add_noise",
    "adaptive_grad_clip",
    "apply_every",
    "centralize",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "ema",
    "identity",
    "keep_params_nonnegative",
    "normalize_by_update_norm",
    "scale",
    "scale_by_adadelta",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_adan",
    "scale_by_amsgrad",
    "scale_by_backtracking_linesearch",
    "scale_by_belief",
    "scale_by_distance_over_gradients",
    "scale_by_factored_rms",
    "scale_by_lbfgs",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_novograd",
    "scale_by_optimistic_gradient",
    "scale_by_param_block_norm",
    "scale_by_param_block_rms",
    "scale_by_polyak",
    "scale_by_radam",
    "scale_by_rms",
    "scale_by_rprop",
    "scale_by_rss",
    "scale_by_schedule",
    "scale_by_sign",
    "scale_by_sm3",
    "scale_by_stddev",
    "scale_by_trust_ratio",
    "scale_by_yogi",
    "scale_by_zoom_linesearch",
    "set_to_zero",
    "trace",
    "zero_nans",
]

ScalarOrSchedule = float | Callable[[Any], Any]
"""A number, or a schedule: a function of the step count."""

Mask = Any
"""A tree of bools like the params (or a prefix of it, such as ``True``), or a function of
the params returning one."""


def is_nonzero_constant(value: Any) -> bool:
    """A known value (not traced under ``jit``, as ``inject_hyperparams`` passes its
    values) that is not 0."""
    return not isinstance(value, jax.core.Tracer) and bool(np.any(np.asarray(value) != 0))


def _is_zero(value: Any) -> bool:
    """A Python (or NumPy) number equal to 0: the part it weights can be left out.
    Arrays (as ``inject_hyperparams`` passes them) are kept, their value may change."""
    return isinstance(value, int | float | np.number) and not isinstance(value, bool) \
        and value == 0


# ------------------------------------------------------------------ stateless transforms


def scale(step_size: float) -> GradientTransformation:
    """optax.scale: u ← c · u."""
    return stateless_layout(gt.scale(step_size), "scale")


def scale_by_schedule(step_size_fn: Callable[[Any], Any]) -> GradientTransformation:
    """optax.scale_by_schedule: u ← s(count) · u."""
    return optax_layout(gt.scale_by_schedule(step_size_fn), st.ScaleByScheduleState,
                        "scale_by_schedule")


def scale_by_learning_rate(learning_rate: ScalarOrSchedule | None = None, *,
                           flip_sign: bool = True) -> GradientTransformation:
    """optax.scale_by_learning_rate: u ← −α_t · u (+α_t · u with ``flip_sign=False``);
    ``None`` is the identity."""
    if learning_rate is None:
        return identity()
    if not callable(learning_rate):
        return scale(-learning_rate if flip_sign else learning_rate)
    sign_ = -1.0 if flip_sign else 1.0
    return scale_by_schedule(lambda count: sign_ * learning_rate(count))


def clip(max_delta: float) -> GradientTransformation:
    """optax.clip: u ← clip(u, −δ, δ)."""
    return stateless_layout(gt.clip(max_delta), "clip")


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    """optax.clip_by_global_norm: u ← u · min(1, c / ‖u‖), ‖u‖ over the whole tree."""
    return stateless_layout(gt.clip_by_global_norm(max_norm), "clip_by_global_norm")


def clip_by_block_rms(threshold: float) -> GradientTransformation:
    """optax.clip_by_block_rms: each array u ← u / max(1, RMS(u) / c)."""
    return stateless_layout(gt.clip_by_block_rms(threshold), "clip_by_block_rms")


def adaptive_grad_clip(clipping: float, eps: float = 1e-3,
                       axis: int | tuple[int, ...] | None = None) -> GradientTransformation:
    """optax.adaptive_grad_clip: unit-wise u ← u · min(1, λ max(‖θ‖, ε) / ‖u‖)."""
    return stateless_layout(gt.adaptive_grad_clip(clipping, eps, axis), "adaptive_grad_clip")


def add_decayed_weights(weight_decay: ScalarOrSchedule = 0.0, mask: Mask | None = None
                        ) -> GradientTransformation:
    """optax.add_decayed_weights: u ← u + λ_t θ, on the leaves ``mask`` selects (then inside
    a ``MaskedState``, as optax)."""
    if callable(weight_decay):
        tx = optax_layout(gt.add_decayed_weights(weight_decay), st.WeightDecaySchedule,
                          "add_decayed_weights")
    else:
        tx = stateless_layout(gt.add_decayed_weights(weight_decay), "add_decayed_weights")
    return tx if mask is None else _masked(tx, mask)


def scale_by_param_block_rms(min_scale: float = 1e-3) -> GradientTransformation:
    """optax.scale_by_param_block_rms: each array u ← u · max(RMS(θ), c)."""
    return stateless_layout(gt.scale_by_param_block_rms(min_scale), "scale_by_param_block_rms")


def scale_by_param_block_norm(min_scale: float = 1e-3) -> GradientTransformation:
    """optax.scale_by_param_block_norm: each array u ← u · ‖θ‖_c with ‖θ‖_c = ‖θ‖ (the
    2-norm of the flattened array) where ‖θ‖ > c, else c = ``min_scale`` (optax's
    ``safe_norm``). Needs the params."""
    owner = "scale_by_param_block_norm"

    def safe_norm(p):
        sq = jnp.sum(abs_sq(p))
        small = jnp.sqrt(sq) <= min_scale
        # the norm of ones where it is replaced by c: no NaN in its gradient at θ = 0
        return jnp.where(small, min_scale, jnp.sqrt(jnp.where(small, 1.0, sq)))

    def update(updates, state, params=None, **extra):
        del extra
        expect_params(owner, params, updates)
        updates = jax.tree.map(lambda u, p: (u * safe_norm(p)).astype(u.dtype),
                               updates, params)
        return updates, state

    return GradientTransformation(lambda params: EmptyState(), update)


def normalize_by_update_norm(scale_factor: float = 1.0, eps: float = 1e-6
                             ) -> GradientTransformation:
    """optax.normalize_by_update_norm: u ← u · s / (‖u‖ + ε), ‖u‖ the 2-norm of the whole
    tree of updates (``|u|²`` summed over every entry), s = ``scale_factor``."""

    def update(updates, state, params=None, **extra):
        del params, extra
        sq = sum(jnp.sum(abs_sq(u)) for u in jax.tree.leaves(updates))
        denominator = (jnp.sqrt(sq) + eps) / scale_factor
        return jax.tree.map(lambda u: (u / denominator).astype(u.dtype), updates), state

    return GradientTransformation(lambda params: EmptyState(), update)


def _centralize_discrete(u: Any, new: Any) -> Any:
    """optax's centralization of an integer or bool array of rank ≥ 2 (in the floating
    dtype of its mean); ``new``, gradtx's result, for any other leaf."""
    dtype = getattr(u, "dtype", None)
    if dtype is None or u.ndim < 2 or not (jnp.issubdtype(dtype, jnp.integer)
                                           or jnp.issubdtype(dtype, jnp.bool_)):
        return new
    return u - u.mean(tuple(range(1, u.ndim)), keepdims=True)


def centralize() -> GradientTransformation:
    """optax.centralize: each array of rank ≥ 2, u ← u − mean(u) over every axis but the
    first (vectors and scalars unchanged). Integer and bool arrays are centralized too, in
    floating point (optax's mean promotes them), where gradtx's own ``centralize`` passes
    them through as not trained."""
    inner = _centralize()

    def update(updates, state, params=None, **extra):
        new, state = inner.update(updates, state, params, **extra)
        return jax.tree.map(_centralize_discrete, updates, new), state

    return GradientTransformation(inner.init, update)


def keep_params_nonnegative() -> GradientTransformation:
    """optax.keep_params_nonnegative: u ← where(θ + u < 0, −θ, u), so that θ + u ≥ 0 (a
    negative θ is moved to 0). Needs the params; state ``NonNegativeParamsState``. Last in
    a chain, as in optax."""
    owner = "keep_params_nonnegative"

    def update(updates, state, params=None, **extra):
        del extra
        if params is None:
            raise ValueError(f"{owner}: needs the params; call update(updates, state, params)")
        updates = jax.tree.map(
            lambda p, u: None if p is None else jnp.where(p + u < 0, -p, u),
            params, updates, is_leaf=lambda x: x is None)
        return updates, state

    return GradientTransformation(lambda params: st.NonNegativeParamsState(), update)


def scale_by_trust_ratio(min_norm: float = 0.0,
                         trust_coefficient: float = 1.0,
                         eps: float = 0.0) -> GradientTransformation:
    """optax.scale_by_trust_ratio: each array u ← η ‖θ‖_c / (‖u‖_c + ε) · u with
    ‖x‖_c = max(‖x‖, c) (ratio 1 where a norm is 0).

    ``min_norm`` c > 0 is provided with the default η = 1, ε = 0 (Fromage's use); with
    other η or ε it raises ``NotImplementedError``.
    """
    if _is_zero(min_norm):
        return stateless_layout(gt.scale_by_trust_ratio(trust_coefficient, eps),
                                "scale_by_trust_ratio")
    if not (trust_coefficient == 1 and _is_zero(eps)):
        raise NotImplementedError("scale_by_trust_ratio: min_norm > 0 together with "
                                  "trust_coefficient != 1 or eps != 0 is not provided by "
                                  "gradtx.compat.optax (see docs/migrating.md)")
    return stateless_layout(gt.scale_by_norm_ratio(min_norm), "scale_by_trust_ratio")


def scale_by_polyak(f_min: float = 0.0, max_learning_rate: float = 1.0,
                    eps: float = 0.0, variant: Literal["sps", "sps+"] = "sps"
                    ) -> GradientTransformation:
    """optax.scale_by_polyak: u ← min((f − f*) / (‖u‖² + ε), α_max) · u (needs ``value=``)."""
    return stateless_layout(gt.scale_by_polyak(f_min, max_learning_rate, eps, variant),
                            "scale_by_polyak")


def scale_by_sign() -> GradientTransformation:
    """optax.scale_by_sign: u ← sign(u)."""
    return gt.scale_by_sign()


# ------------------------------------------------------------------------------ momentum


def trace(decay: float, nesterov: bool = False, accumulator_dtype: Any = None
          ) -> GradientTransformation:
    """optax.trace: m ← ρ m + u, u ← m (Nesterov: u ← ρ m + u)."""
    return optax_layout(gt.trace(decay, nesterov, accumulator_dtype), st.TraceState, "trace",
                        step=None)


def ema(decay: float, debias: bool = True, accumulator_dtype: Any = None
        ) -> GradientTransformation:
    """optax.ema: m ← ρ m + (1 − ρ) u, u ← m / (1 − ρ^t) (or m without ``debias``)."""
    return optax_layout(gt.ema(decay, debias, accumulator_dtype), st.EmaState, "ema")


# ------------------------------------------------------------------------ preconditioners


def scale_by_rss(initial_accumulator_value: float = 0.1,
                 eps: float = 1e-7) -> GradientTransformation:
    """optax.scale_by_rss: r ← r + u², u ← u / √(r + ε) (ε inside the root, r_0 = 0.1)."""
    return optax_layout(gt.scale_by_rss(0.0, eps, initial_accumulator_value),
                        st.ScaleByRssState, "scale_by_rss", step=None)


def _rms(owner: str, decay: Any, eps: Any, initial_scale: Any, eps_in_sqrt: bool,
         bias_correction: bool, centered: bool) -> GradientTransformation:
    eps_, eps_root = (0.0, eps) if eps_in_sqrt else (eps, 0.0)
    tx = gt.scale_by_rms(decay, eps_, eps_root, centered, initial_scale,
                         bias_correction=bias_correction)
    if centered:
        cls: type = st.ScaleByRStdDevWithCountState if bias_correction else st.ScaleByRStdDevState
    else:
        cls = st.ScaleByRmsWithCountState if bias_correction else st.ScaleByRmsState
    return optax_layout(tx, cls, owner, step="count" if bias_correction else None)


def scale_by_rms(decay: float = 0.9, eps: float = 1e-8,
                 initial_scale: float = 0.0, eps_in_sqrt: bool = True,
                 bias_correction: bool = False) -> GradientTransformation:
    """optax.scale_by_rms: ν ← ρ ν + (1 − ρ) u², u ← u / √(ν̂ + ε) (ε inside the root by
    default; ν̂ = ν / (1 − ρ^t) with ``bias_correction``, else ν)."""
    return _rms("scale_by_rms", decay, eps, initial_scale, eps_in_sqrt, bias_correction,
                centered=False)


def scale_by_stddev(decay: float = 0.9, eps: float = 1e-8,
                    initial_scale: float = 0.0, eps_in_sqrt: bool = True,
                    bias_correction: bool = False) -> GradientTransformation:
    """optax.scale_by_stddev: centered RMS, u ← u / √(ν̂ − μ̂² + ε)."""
    return _rms("scale_by_stddev", decay, eps, initial_scale, eps_in_sqrt, bias_correction,
                centered=True)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999,
                  eps: float = 1e-8, eps_root: float = 0.0,
                  mu_dtype: Any = None, *, nesterov: bool = False) -> GradientTransformation:
    """optax.scale_by_adam: u ← μ̂ / (√(ν̂ + ε_root) + ε) (NAdam's look-ahead μ̂ with
    ``nesterov``, constant μ = b1)."""
    return optax_layout(gt.scale_by_adam(b1, b2, eps, eps_root, nesterov=nesterov,
                                         mu_dtype=mu_dtype),
                        st.ScaleByAdamState, "scale_by_adam")


def scale_by_adamax(b1: float = 0.9, b2: float = 0.999,
                    eps: float = 1e-8) -> GradientTransformation:
    """optax.scale_by_adamax: ν ← max(b2 ν, |u| + ε), u ← μ̂ / ν."""
    return optax_layout(gt.scale_by_adamax(b1, b2, eps=0.0, eps_root=eps),
                        st.ScaleByAdamState, "scale_by_adamax")


def scale_by_amsgrad(b1: float = 0.9, b2: float = 0.999,
                     eps: float = 1e-8, eps_root: float = 0.0,
                     mu_dtype: Any = None, bias_correction_mu: bool = True,
                     bias_correction_nu: bool = True) -> GradientTransformation:
    """optax.scale_by_amsgrad: ν_max ← max(ν_max, ν̂), u ← μ̂ / (√(ν_max + ε_root) + ε) —
    the maximum of the *debiased* ν (gradtx.scale_by_amsgrad's default, the paper's and
    torch's, takes it of the raw ν)."""
    return optax_layout(
        gt.scale_by_amsgrad(b1, b2, eps, eps_root, max_of="debiased",
                            bias_correction_mu=bias_correction_mu,
                            bias_correction_nu=bias_correction_nu, mu_dtype=mu_dtype),
        st.ScaleByAmsgradState, "scale_by_amsgrad")


def scale_by_adadelta(rho: float = 0.9, eps: float = 1e-6
                      ) -> GradientTransformation:
    """optax.scale_by_adadelta: u ← √(E[Δ²] + ε) / √(E[g²] + ε) · g."""
    return optax_layout(gt.scale_by_adadelta(rho, 0.0, eps), st.ScaleByAdaDeltaState,
                        "scale_by_adadelta", step=None, e_g="e_g2", e_x="e_dx2")


def scale_by_radam(b1: float = 0.9, b2: float = 0.999,
                   eps: float = 1e-8, eps_root: float = 0.0,
                   threshold: float = 5.0, *, nesterov: bool = False
                   ) -> GradientTransformation:
    """optax.scale_by_radam: Adam's direction once the variance is tractable (ρ_t ≥
    threshold), momentum alone before."""
    return optax_layout(gt.scale_by_radam(b1, b2, eps, eps_root, threshold, nesterov=nesterov),
                        st.ScaleByAdamState, "scale_by_radam")


def scale_by_belief(b1: float = 0.9, b2: float = 0.999,
                    eps: float = 1e-16, eps_root: float = 1e-16, *,
                    nesterov: bool = False) -> GradientTransformation:
    """optax.scale_by_belief: AdaBelief, ν the EMA of (g − μ)² + ε_root."""
    return optax_layout(gt.scale_by_belief(b1, b2, eps, eps_root, nesterov=nesterov),
                        st.ScaleByBeliefState, "scale_by_belief")


def scale_by_yogi(b1: float = 0.9, b2: float = 0.999,
                  eps: float = 1e-3, eps_root: float = 0.0,
                  initial_accumulator_value: float = 1e-6
                  ) -> GradientTransformation:
    """optax.scale_by_yogi: ν ← ν − (1 − b2) sign(ν − g²) g²; both moments start at
    ``initial_accumulator_value``."""
    return optax_layout(gt.scale_by_yogi(b1, b2, eps, eps_root, initial_accumulator_value,
                                         initial_mu=initial_accumulator_value),
                        st.ScaleByAdamState, "scale_by_yogi")


def scale_by_adan(b1: float = 0.98, b2: float = 0.92,
                  b3: float = 0.99, eps: float = 1e-8,
                  eps_root: float = 0.0) -> GradientTransformation:
    """optax.scale_by_adan, with optax 0.2.8's weight 1 − b2 on the gradient difference
    (gradtx.scale_by_adan's default is the paper's b2)."""
    return optax_layout(gt.scale_by_adan(b1, b2, b3, eps, eps_root, difference_weight="1-b2"),
                        st.ScaleByAdanState, "scale_by_adan", step="t", m="mu", v="delta",
                        n="nu", g="prev_grad")


def scale_by_lion(b1: float = 0.9, b2: float = 0.99,
                  mu_dtype: Any = None, *, mode: Literal["hard", "smooth", "refined"] = "hard",
                  smooth_beta: float = 1.0) -> GradientTransformation:
    """optax.scale_by_lion: u ← sign(b1 μ + (1 − b1) g) (or optax's ``"smooth"`` /
    ``"refined"`` variants), μ ← b2 μ + (1 − b2) g."""
    return optax_layout(gt.scale_by_lion(b1, b2, mu_dtype, mode=mode, smooth_beta=smooth_beta),
                        st.ScaleByLionState, "scale_by_lion")


def scale_by_factored_rms(factored: bool = True, decay_rate: float = 0.8,
                          step_offset: int = 0, min_dim_size_to_factor: int = 128,
                          epsilon: float = 1e-30,
                          decay_rate_fn: Callable[..., Any] | None = None
                          ) -> GradientTransformation:
    """optax.scale_by_factored_rms: Adafactor's factored second moment, decay
    1 − t^(−decay_rate).

    ``step_offset`` ≠ 0 and a ``decay_rate_fn`` other than optax's default (``None`` here)
    raise ``NotImplementedError``.
    """
    if is_nonzero_constant(step_offset):
        raise NotImplementedError("scale_by_factored_rms: step_offset != 0 is not provided by "
                                  "gradtx.compat.optax (see docs/migrating.md)")
    if decay_rate_fn is not None:
        raise NotImplementedError("scale_by_factored_rms: a decay_rate_fn is not provided by "
                                  "gradtx.compat.optax; the decay is 1 - t^(-decay_rate)")
    return optax_layout(gt.scale_by_factored_rms(decay_rate, epsilon, min_dim_size_to_factor,
                                                 factored),
                        st.FactoredState, "scale_by_factored_rms")


def scale_by_novograd(b1: float = 0.9, b2: float = 0.25,
                      eps: float = 1e-8, eps_root: float = 0.0,
                      weight_decay: float = 0.0, mu_dtype: Any = None
                      ) -> GradientTransformation:
    """optax.scale_by_novograd: ν ← b2 ν + (1 − b2) ‖g‖² per array (ν_1 = ‖g_1‖²),
    μ ← b1 μ + g / (√(ν + ε_root) + ε) + λθ, u ← μ."""
    parts = {"novograd": gt.scale_by_layer_second_moment(b2, eps, eps_root)}
    if not _is_zero(weight_decay):
        parts["weight_decay"] = gt.add_decayed_weights(weight_decay)
    parts["momentum"] = gt.trace(b1, accumulator_dtype=mu_dtype)
    return optax_layout(gt.named_chain(**parts), st.ScaleByNovogradState, "scale_by_novograd",
                        mu=at("momentum", "trace"), nu=at("novograd", "nu"))


# ------------------------------------------------------------------ sign and step methods


def _componentwise(a: jax.Array, b: jax.Array) -> jax.Array:
    """a · b, per real component for complex arrays (Rprop's per-component step sizes)."""
    if jnp.iscomplexobj(a) or jnp.iscomplexobj(b):
        return jax.lax.complex(jnp.real(a) * jnp.real(b), jnp.imag(a) * jnp.imag(b))
    return a * b


_RPROP_PREV_UPDATES = Field(
    get=lambda s: jax.tree.map(_componentwise, s.prev_sign, s.step_sizes),
    put=lambda s, prev: s._replace(prev_sign=jax.tree.map(sign, prev)),
)


def scale_by_rprop(learning_rate: float, eta_minus: float = 0.5,
                   eta_plus: float = 1.2, min_step_size: float = 1e-6,
                   max_step_size: float = 50.0) -> GradientTransformation:
    """optax.scale_by_rprop, with optax 0.2.8's timing: each update is the previous step's
    s·Δ (the first is 0), and Δ is not clipped where s · s_prev = 0
    (gradtx.scale_by_rprop's default is torch's iRprop⁻)."""
    return optax_layout(gt.scale_by_rprop(learning_rate, eta_minus, eta_plus, min_step_size,
                                          max_step_size, lagged=True),
                        st.ScaleByRpropState, "scale_by_rprop", step=None,
                        prev_updates=_RPROP_PREV_UPDATES)


def add_noise(eta: float, gamma: float,
              key: jax.Array | int | None = None, *, seed: int | None = None
              ) -> GradientTransformation:
    """optax.add_noise: u ← u + N(0, η / (1 + t)^γ), a fresh key split from ``rng_key``."""
    return optax_layout(gt.add_noise(eta, gamma, key, seed=seed), st.AddNoiseState, "add_noise")


_INITIAL_STEP = Step("is_initial_step", read=lambda first: jnp.where(first, 0, 1),
                     write=lambda count: count == 0)


def scale_by_optimistic_gradient(alpha: float = 1.0, beta: float = 1.0
                                 ) -> GradientTransformation:
    """optax.scale_by_optimistic_gradient: u ← (α + β) g − β g_prev (g_prev = g at first)."""
    for name, value in (("alpha", alpha), ("beta", beta)):
        if callable(value):
            raise TypeError(f"scale_by_optimistic_gradient: {name} must be a number, as in "
                            f"optax, got a {type(value).__name__}")
    return optax_layout(gt.scale_by_optimistic_gradient(alpha, beta),
                        st.ScaleByOptimisticGradientState, "scale_by_optimistic_gradient",
                        step=_INITIAL_STEP)


def _split_covers(mu: jax.Array, shape: tuple[int, ...]) -> list[jax.Array]:
    return list(jnp.split(mu, np.cumsum(shape)[:-1])) if shape else [mu]


_SM3_MU = Field(
    get=lambda s: jax.tree.map(lambda mu, m: _split_covers(mu, jnp.shape(m)), s.mu, s.momentum),
    put=lambda s, covers: s._replace(mu=jax.tree.map(lambda m, c: jnp.concatenate(c),
                                                     s.momentum, covers)),
)


def scale_by_sm3(b1: float = 0.9, b2: float = 1.0,
                 eps: float = 1e-8) -> GradientTransformation:
    """optax.scale_by_sm3: SM3-II with the cover of all axis slices; ``mu`` holds one
    array per axis of each leaf (a scalar leaf, which optax rejects, has one of size 1)."""
    return optax_layout(gt.scale_by_sm3(b1, b2, eps), st.ScaleBySM3State, "scale_by_sm3",
                        step=None, mu=_SM3_MU, nu="momentum")


def scale_by_lbfgs(memory_size: int = 10, scale_init_precond: bool = True
                   ) -> GradientTransformation:
    """optax.scale_by_lbfgs: the L-BFGS direction from the last ``memory_size`` pairs."""
    return optax_layout(gt.scale_by_lbfgs(memory_size, scale_init_precond),
                        st.ScaleByLBFGSState, "scale_by_lbfgs")



# ------------------------------------------------------------------ parameter-free steps


def _default_float_dtype() -> Any:
    """The dtype of ``jnp.zeros(1)``: float64 under ``jax_enable_x64``, else float32."""
    return jax.dtypes.canonicalize_dtype(np.float64)


# optax keeps G as a shape-(1,) array started from ``jnp.zeros(1)`` (the default float
# dtype), gradtx as a scalar in the leaf's statistics dtype: the field reshapes, and widens
# to optax's dtype (the gradtx rule then sums in that dtype).
_DOG_SUM_OF_SQUARES = Field(
    get=lambda s: jax.tree.map(
        lambda x: jnp.reshape(x, (1,)).astype(jnp.promote_types(x.dtype, _default_float_dtype())),
        s.grad_sum_of_squares),
    put=lambda s, value: s._replace(
        grad_sum_of_squares=jax.tree.map(lambda x: jnp.reshape(x, ()), value)),
)


def scale_by_distance_over_gradients(reps_rel: float = 1e-6, eps: float = 1e-8,
                                     param_dtype: Any = jnp.float32, global_scale: float = 1.0
                                     ) -> GradientTransformation:
    """optax.scale_by_distance_over_gradients: layer-wise DoG (Ivgi et al. 2023), per array
    r_t = max(r_{t−1}, ‖θ_t − θ_0‖) with r_0 = reps_rel (1 + ‖θ_0‖), G_t = G_{t−1} + ‖g_t‖²,
    u ← s · r_t / √(G_t + ε) · g (s = ``global_scale``; −1 descends). Needs the params. The
    state is optax's ``ScaleByDistanceOverGradientsState(max_dist, grad_sum_of_squares,
    init_params)``, ``grad_sum_of_squares`` a shape-(1,) array per leaf (see
    [`gradtx.scale_by_distance_over_gradients`][])."""
    return optax_layout(gt.scale_by_distance_over_gradients(reps_rel, eps, param_dtype,
                                                            global_scale),
                        st.ScaleByDistanceOverGradientsState,
                        "scale_by_distance_over_gradients", step=None,
                        grad_sum_of_squares=_DOG_SUM_OF_SQUARES)
