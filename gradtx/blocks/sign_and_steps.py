"""Blocks of the sign-based and step-size methods: signSGD, Rprop, Polyak steps, gradient
noise, optimistic gradients, Fromage, SM3 and DoG (distance over gradients).

Notation as in ``gradtx.blocks.preconditioners``: g the gradient (the incoming
update u), θ the params, t the update number (1 for the first update), ⊙ elementwise,
‖·‖ the L2 (Frobenius) norm of one array. Each block returns a direction that
``scale_by_learning_rate`` (or ``scale(-1)``) turns into a descent step.

* Signs are taken per real component (``gradtx.core.numerics.sign``), so a
  complex leaf moves as its real pair (Re, Im) would; Rprop keeps one step size per
  real component (the real and imaginary parts of a complex step-size array).
* Elementwise rules are written for one array and lifted by
  ``gradtx.core.lift.per_array``, per-layer norms (Fromage) as its block reductions,
  and rules that need an array's shape (SM3's cover, the noise drawn leaf by leaf) by
  ``gradtx.core.lift.per_leaf``, so flat params ([`gradtx.flat`][]) give the same
  results (DoG's per-layer distances and gradient sums too); the Polyak step is global.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import PyTreeDef

from gradtx.core.base import GradientTransformation, expect_params, stateless
from gradtx.core.block import block
from gradtx.core.hyperparams import HyperParams
from gradtx.core.lift import leaf_structs, leaf_tree, per_array, per_leaf
from gradtx.core.numerics import (
    abs_sq,
    is_trainable,
    real_dtype,
    second_moment_dtype,
    sign,
    widen,
)
from gradtx.core.tree import tree_full_like, tree_sum_of_squares, tree_zeros_like
from gradtx.core.validate import (
    NONNEGATIVE,
    POSITIVE,
    REAL,
    UNIT,
    UNIT_OPEN,
    Interval,
    check_bool,
    check_interval,
)

__all__ = [
    "ScaleByRpropState",
    "ScaleByPolyakState",
    "AddNoiseState",
    "ScaleByOptimisticGradientState",
    "ScaleByNormRatioState",
    "FromageRescaleState",
    "ScaleBySm3State",
    "ScaleByDistanceOverGradientsState",
    "scale_by_sign",
    "scale_by_rprop",
    "scale_by_polyak",
    "add_noise",
    "scale_by_optimistic_gradient",
    "scale_by_norm_ratio",
    "fromage_rescale",
    "scale_by_sm3",
    "scale_by_distance_over_gradients",
]

Schedule = Callable[[Any], Any]
OPEN_UNIT = Interval(low=0.0, high=1.0, low_open=True, high_open=True)
ABOVE_ONE = Interval(low=1.0, low_open=True)


def _per_real_part(rule: Callable[..., tuple[jax.Array, ...]], g: jax.Array,
                   *states: jax.Array) -> tuple[jax.Array, ...]:
    """``rule`` on a real array, or on the real and imaginary parts of a complex one."""
    if not jnp.iscomplexobj(g):
        return rule(g, *states)
    re = rule(jnp.real(g), *(jnp.real(s) for s in states))
    im = rule(jnp.imag(g), *(jnp.imag(s) for s in states))
    return tuple(jax.lax.complex(a, b) for a, b in zip(re, im, strict=True))


# --- signSGD -------------------------------------------------------------------------------


def scale_by_sign() -> GradientTransformation:
    """u ← sign(u) (Bernstein et al. 2018), per real component; sign(0) = 0."""

    def fn(updates, params):
        del params
        (updates,) = per_array(lambda u: (sign(u),), updates, what="scale_by_sign")
        return updates

    return stateless(fn, "scale_by_sign")


# --- Rprop ---------------------------------------------------------------------------------


class ScaleByRpropState(NamedTuple):
    """Rprop's step size Δ per coordinate and the sign of the last gradient it used
    (0 after a sign change)."""

    step_sizes: Any
    prev_sign: Any
    hyperparams: dict[str, Any]


def _step_sizes_like(p: Any, value: float) -> jax.Array:
    """Δ_0 = ``value`` shaped like ``p``: float32 for float16 params, ``value·(1 + i)`` in
    the params' dtype for complex ones (one step size per real component)."""
    dtype = np.dtype(p.dtype) if hasattr(p, "dtype") else jnp.result_type(p)
    if not jnp.issubdtype(dtype, jnp.inexact):
        return tree_full_like(p, 0)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        return tree_full_like(p, value * (1 + 1j))
    return tree_full_like(p, value, second_moment_dtype(dtype))


def scale_by_rprop(
    learning_rate: float,
    eta_minus: float = 0.5,
    eta_plus: float = 1.2,
    min_step_size: float = 1e-6,
    max_step_size: float = 50.0,
    *,
    lagged: bool = False,
) -> GradientTransformation:
    """Rprop without weight backtracking (iRprop⁻; Riedmiller & Braun 1993, Igel & Hüsken
    2000), as torch's ``Rprop``. Per coordinate, with s = sign(g) and s_prev the sign kept
    from the last update:

        Δ ← clip(η⁺ Δ, Δ_min, Δ_max)   if s · s_prev > 0
        Δ ← clip(η⁻ Δ, Δ_min, Δ_max)   if s · s_prev < 0   (and s ← 0: no move this step)
        Δ ← clip(Δ, Δ_min, Δ_max)      otherwise
        u = s Δ,   s_prev ← s

    Δ starts at ``learning_rate``. The paper's Rprop also undoes the previous step on a
    sign change (weight backtracking); torch and optax do not, nor does this block.
    optax's ``scale_by_rprop`` (0.2.8) returns the *previous* step's u, zeroed where the
    sign changed (its first update is 0; optax PR #1725), and does not clip Δ when
    s · s_prev = 0; this block returns the current step, as torch. ``lagged=True`` gives
    optax's: Δ unchanged where s · s_prev = 0, and u = s_prev Δ_prev (the previous step's
    update), zeroed where the sign changed.

    Args:
      learning_rate: Δ_0 > 0, the initial step size.
      eta_minus: η⁻ in (0, 1). eta_plus: η⁺ > 1.
      min_step_size: Δ_min ≥ 0. max_step_size: Δ_max > 0, at least Δ_min.
      lagged: emit the previous step's update (optax 0.2.8's timing).
    """
    owner = "scale_by_rprop"
    check_bool(owner, "lagged", lagged)
    check_interval(owner, "learning_rate", learning_rate, low=0.0, low_open=True,
                   allow_schedule=False)
    hyper = HyperParams(owner, eta_minus=(eta_minus, OPEN_UNIT), eta_plus=(eta_plus, ABOVE_ONE),
                        min_step_size=(min_step_size, NONNEGATIVE),
                        max_step_size=(max_step_size, POSITIVE))
    if not any(callable(v) or isinstance(v, jax.core.Tracer)
               for v in (min_step_size, max_step_size)) and min_step_size > max_step_size:
        raise ValueError(f"{owner}: min_step_size must be at most max_step_size, got "
                         f"{min_step_size!r} > {max_step_size!r}")

    def init(params, hyperparams):
        return ScaleByRpropState(jax.tree.map(lambda p: _step_sizes_like(p, learning_rate),
                                              params),
                                 tree_zeros_like(params), hyperparams)

    def update(updates, state, params, h, step, **extra):
        def real_rule(g, delta, prev):
            s = jnp.sign(g)
            agreement = s * prev
            factor = jnp.where(agreement > 0, h["eta_plus"],
                               jnp.where(agreement < 0, h["eta_minus"], 1))
            new_delta = jnp.clip(delta * factor, h["min_step_size"], h["max_step_size"])
            s = jnp.where(agreement < 0, 0, s)
            if not lagged:
                return s * new_delta, new_delta, s
            new_delta = jnp.where(agreement == 0, delta, new_delta)
            return jnp.where(agreement < 0, 0, prev * delta), new_delta, s

        def rule(g, delta, prev):
            return _per_real_part(real_rule, g, delta, prev)

        updates, step_sizes, prev_sign = per_array(rule, updates, state.step_sizes,
                                                   state.prev_sign, what=owner)
        return updates, state._replace(step_sizes=step_sizes, prev_sign=prev_sign)

    return block(owner, ScaleByRpropState, hyper, init, update)


# --- Polyak step size ----------------------------------------------------------------------


class ScaleByPolyakState(NamedTuple):
    """The state of ``scale_by_polyak``."""

    hyperparams: dict[str, Any]


def scale_by_polyak(
    f_min: float = 0.0,
    max_learning_rate: float = 1.0,
    eps: float = 0.0,
    variant: Literal["sps", "sps+"] = "sps",
) -> GradientTransformation:
    """The stochastic Polyak step (Loizou et al. 2021, SPS_max), from the loss f:

        u ← γ g,   γ = min((f − f*) / (‖g‖² + ε), γ_max)

    with ‖g‖² summed over all leaves (one step size for the whole model), and γ = 0
    where ‖g‖² + ε = 0. ``variant="sps+"`` (Garrigos et al. 2023) uses (f − f*)₊.
    The loss is read from ``update(..., value=loss)``.

    optax's ``scale_by_polyak`` sets γ = 0 already where ‖g‖² + ε ≤ 2.2e-16 (float64's
    machine epsilon); here only an exactly zero denominator does.

    Args:
      f_min: f*, a lower bound on (a guess of the minimum of) the loss.
      max_learning_rate: γ_max > 0.
      eps: ε ≥ 0 added to ‖g‖².
      variant: ``"sps"`` or ``"sps+"``.
    """
    owner = "scale_by_polyak"
    if variant not in ("sps", "sps+"):
        raise ValueError(f"{owner}: variant must be 'sps' or 'sps+', got {variant!r}")
    hyper = HyperParams(owner, f_min=(f_min, REAL),
                        max_learning_rate=(max_learning_rate, POSITIVE), eps=(eps, NONNEGATIVE))

    def init(params, hyperparams):
        del params
        return ScaleByPolyakState(hyperparams)

    def update(updates, state, params, h, step, *, value=None, **extra):
        if value is None:
            raise ValueError(f"{owner}: needs the loss; call update(..., value=loss)")
        sq_norm = tree_sum_of_squares(updates)
        dtype = jnp.promote_types(sq_norm.dtype, h["f_min"].dtype)
        gap = jnp.asarray(value).astype(dtype).reshape(()) - h["f_min"]
        if variant == "sps+":
            gap = jnp.maximum(gap, 0)
        denominator = sq_norm + h["eps"]
        positive = denominator > 0
        step_size = jnp.where(positive, jnp.minimum(gap / jnp.where(positive, denominator, 1),
                                                    h["max_learning_rate"]), 0)
        (updates,) = per_array(lambda u: (step_size * u,), updates, what=owner)
        return updates, state

    return block(owner, ScaleByPolyakState, hyper, init, update)


# --- Gradient noise ------------------------------------------------------------------------


class AddNoiseState(NamedTuple):
    """The PRNG key of the next noise draw."""

    rng_key: jax.Array
    hyperparams: dict[str, Any]


def _as_key(owner: str, key: Any) -> jax.Array:
    """A typed PRNG key from an int seed, a typed key or a raw uint32 key."""
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    if isinstance(key, int | np.integer) and not isinstance(key, bool):
        return jax.random.key(int(key))
    if isinstance(key, jax.Array) and key.shape == () and jnp.issubdtype(key.dtype, jnp.integer):
        return jax.random.key(key)  # an int seed held as an array (inject_hyperparams)
    if isinstance(key, jax.Array | np.ndarray) and key.dtype == np.uint32 and key.shape == (2,):
        return jax.random.wrap_key_data(jnp.asarray(key))
    raise TypeError(f"{owner}: key must be an int seed or a jax.random key, got "
                    f"{type(key).__name__} {key!r}")


def add_noise(
    eta: float | Schedule,
    gamma: float | Schedule,
    key: int | jax.Array | None = None,
    *,
    seed: int | None = None,
) -> GradientTransformation:
    """Annealed Gaussian gradient noise (Neelakantan et al. 2015):

        u ← u + σ_t z,   z ~ N(0, I),   σ_t² = η / t^γ

    A key is split off the state's key every step and split again into one key per
    leaf (of the params tree, also for flat params), as optax's ``add_noise`` does: the
    same key or seed gives optax's noise.

    Args:
      eta: η ≥ 0, the variance at t = 1.
      gamma: γ ≥ 0, the annealing exponent (0.55 in the paper).
      key: an int seed or a ``jax.random`` key (default: seed 0).
      seed: an int seed, for ``key`` (optax's older name); give one of the two.
    """
    owner = "add_noise"
    if key is not None and seed is not None:
        raise ValueError(f"{owner}: give key or seed, not both")
    rng_key = _as_key(owner, key if key is not None else (0 if seed is None else seed))
    hyper = HyperParams(owner, eta=(eta, NONNEGATIVE), gamma=(gamma, NONNEGATIVE))

    def init(params, hyperparams):
        del params
        return AddNoiseState(rng_key, hyperparams)

    def update(updates, state, params, h, step, **extra):
        t = jnp.asarray(step).astype(h["eta"].dtype) + 1
        std = jnp.sqrt(h["eta"] / t ** h["gamma"])
        rng_key, sample_key = jax.random.split(state.rng_key)
        treedef: PyTreeDef = jax.tree.structure(leaf_structs(updates))
        keys = treedef.unflatten(list(jax.random.split(sample_key, treedef.num_leaves)))

        def rule(u, k):
            return (u + std * jax.random.normal(k, u.shape, u.dtype),)

        (updates,) = per_leaf(rule, updates, shared=(keys,), what=owner)
        return updates, state._replace(rng_key=rng_key)

    return block(owner, AddNoiseState, hyper, init, update, uses_step=True)


# --- Optimistic gradient -------------------------------------------------------------------


class ScaleByOptimisticGradientState(NamedTuple):
    """The previous gradient g_{t−1}."""

    previous_gradient: Any
    hyperparams: dict[str, Any]


def scale_by_optimistic_gradient(
    alpha: float | Schedule = 1.0, beta: float | Schedule = 1.0
) -> GradientTransformation:
    """Generalized optimistic gradient (Mokhtari et al. 2019):

        u ← (α + β) g_t − β g_{t−1}

    with g_0 = g_1 (the first update is (α) g_1, as optax since its issue #1082).
    α = β = 1 is optimistic gradient descent, 2 g_t − g_{t−1}.

    Args:
      alpha: α ≥ 0. beta: β ≥ 0 (the weight of the negative momentum).
    """
    owner = "scale_by_optimistic_gradient"
    hyper = HyperParams(owner, alpha=(alpha, NONNEGATIVE), beta=(beta, NONNEGATIVE))

    def init(params, hyperparams):
        return ScaleByOptimisticGradientState(tree_zeros_like(params), hyperparams)

    def update(updates, state, params, h, step, **extra):
        alpha_, beta_ = h["alpha"], h["beta"]
        first = step == 0

        def rule(g, g_prev):
            g_prev = jnp.where(first, g, g_prev)
            return (alpha_ + beta_) * g - beta_ * g_prev, g

        updates, previous = per_array(rule, updates, state.previous_gradient, what=owner)
        return updates, state._replace(previous_gradient=previous)

    return block(owner, ScaleByOptimisticGradientState, hyper, init, update, uses_step=True)


# --- Fromage -------------------------------------------------------------------------------


class ScaleByNormRatioState(NamedTuple):
    """The state of ``scale_by_norm_ratio``."""

    hyperparams: dict[str, Any]


def scale_by_norm_ratio(min_norm: float = 0.0) -> GradientTransformation:
    """Per array (one layer), u ← ‖θ‖_c / ‖u‖_c · u with ‖x‖_c = max(‖x‖, c), and
    ratio 1 where ‖θ‖_c or ‖u‖_c is 0 (only possible when c = 0).

    Fromage's (and optax's ``scale_by_trust_ratio(min_norm)``) relative step; with
    c = 0 it equals gradtx's [`scale_by_trust_ratio`][gradtx.scale_by_trust_ratio].
    Needs the params.

    Args:
      min_norm: c ≥ 0, the floor on both norms (keeps zero-initialized layers moving).
    """
    owner = "scale_by_norm_ratio"
    hyper = HyperParams(owner, min_norm=(min_norm, NONNEGATIVE))

    def init(params, hyperparams):
        del params
        return ScaleByNormRatioState(hyperparams)

    def update(updates, state, params, h, step, **extra):
        expect_params(owner, params, updates)
        c = h["min_norm"]

        def rule(u, p, blocks):
            u = u.astype(jnp.promote_types(widen(u).dtype, c.dtype))
            p_norm = jnp.maximum(jnp.sqrt(blocks.sum(abs_sq(p).astype(c.dtype))), c)
            u_norm = jnp.maximum(jnp.sqrt(blocks.sum(abs_sq(u))), c)
            zero = (p_norm == 0) | (u_norm == 0)
            return (u * jnp.where(zero, 1, p_norm / jnp.where(zero, 1, u_norm)),)

        (updates,) = per_array(rule, updates, shared=(params,), what=owner, blocks=True)
        return updates, state

    return block(owner, ScaleByNormRatioState, hyper, init, update)


class FromageRescaleState(NamedTuple):
    """The state of ``fromage_rescale``."""

    hyperparams: dict[str, Any]


def fromage_rescale(learning_rate: float | Schedule) -> GradientTransformation:
    """Fromage's correction (Bernstein et al. 2020, Alg. 1): divide the new params by
    √(1 + α_t²),

        u ← (θ + u) / √(1 + α_t²) − θ = m u + (m − 1) θ,   m = 1 / √(1 + α_t²)

    with m − 1 computed as −α_t² / (√(1 + α_t²) (1 + √(1 + α_t²))), free of cancellation;
    placed after ``scale_by_learning_rate(α)``, with the same α (number or schedule).
    Needs the params.
    """
    owner = "fromage_rescale"
    hyper = HyperParams(owner, learning_rate=(learning_rate, NONNEGATIVE))

    def init(params, hyperparams):
        del params
        return FromageRescaleState(hyperparams)

    def update(updates, state, params, h, step, **extra):
        expect_params(owner, params, updates)
        a2 = h["learning_rate"] ** 2
        root = jnp.sqrt(1 + a2)
        m = 1 / root
        # m − 1 = −α²/(√(1+α²)(1 + √(1+α²))): no cancellation for small α (1/√(1+α²) − 1
        # in float32 keeps about 3 of its digits at α = 0.01)
        shrink = -a2 / (root * (1 + root))
        (updates,) = per_array(lambda u, p: (m * u + shrink * p,), updates, shared=(params,),
                               what=owner)
        return updates, state

    return block(owner, FromageRescaleState, hyper, init, update)


# --- SM3 -----------------------------------------------------------------------------------


class ScaleBySm3State(NamedTuple):
    """SM3's cover accumulators μ(r) and the momentum of the preconditioned gradient.

    For an array of shape (d_1, …, d_k) the cover is its k families of slices (rows,
    columns, …): ``mu`` holds, per leaf, the d_1 + … + d_k accumulators one after the
    other (one accumulator for a scalar leaf); it is a tree of the params' leaves also
    for flat params.
    """

    mu: Any
    momentum: Any
    hyperparams: dict[str, Any]


def _cover_sizes(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(shape) if shape else (1,)


def _cover_accumulators(mu: jax.Array, shape: tuple[int, ...]) -> list[jax.Array]:
    """The accumulators of each axis, shaped to broadcast against an array of ``shape``."""
    if not shape:
        return [mu.reshape(())]
    pieces = jnp.split(mu, np.cumsum(shape)[:-1])
    return [piece.reshape([1] * i + [d] + [1] * (len(shape) - i - 1))
            for i, (piece, d) in enumerate(zip(pieces, shape, strict=True))]


def scale_by_sm3(b1: float = 0.9, b2: float = 1.0, eps: float = 1e-8) -> GradientTransformation:
    """SM3-II (Anil et al. 2019, Alg. 3) with the cover of rows and columns (all axis
    slices) of each array, and momentum on the preconditioned gradient:

        ν(i) = c · g(i)² + ρ2 · min_{r ∋ i} μ(r),   c = 1 if ρ2 = 1 else 1 − ρ2
        μ(r) ← max_{i ∈ r} ν(i)
        m ← ρ1 m + (1 − ρ1) g / √(ν + ε),   u = m       (0 where ν = 0)

    ρ2 = 1 is the paper's method (an AdaGrad whose accumulator of an n×m matrix takes
    n + m numbers); for a vector or a scalar it is AdaGrad. As optax's ``scale_by_sm3``,
    which rejects complex and scalar leaves; here |g|² is used and a scalar is its own cover.

    Args:
      b1: ρ1 in [0, 1), the momentum. b2: ρ2 in [0, 1]. eps: ε ≥ 0 inside the root.
    """
    owner = "scale_by_sm3"
    hyper = HyperParams(owner, b1=(b1, UNIT_OPEN), b2=(b2, UNIT), eps=(eps, NONNEGATIVE))

    def init(params, hyperparams):
        def zeros(p):
            shape = jnp.shape(p)
            dtype = second_moment_dtype(p.dtype) if is_trainable(p) else np.dtype(np.float32)
            return jnp.zeros((sum(_cover_sizes(shape)),), dtype)

        return ScaleBySm3State(jax.tree.map(zeros, leaf_tree(params)),
                               tree_zeros_like(params), hyperparams)

    def update(updates, state, params, h, step, **extra):
        rho1, rho2, eps_ = h["b1"], h["b2"], h["eps"]
        c = jnp.where(rho2 == 1, 1, 1 - rho2)

        def accumulate(g, mu):
            nu_min = _cover_accumulators(mu, g.shape)
            floor = nu_min[0]
            for other in nu_min[1:]:
                floor = jnp.minimum(floor, other)
            return c * abs_sq(g) + rho2 * floor

        def new_mu(mu, g):
            if not is_trainable(g):
                return (mu,)
            nu = accumulate(g, mu)
            axes = range(nu.ndim)
            maxima = [jnp.max(nu, axis=tuple(j for j in axes if j != i)) for i in axes]
            return (jnp.concatenate(maxima) if maxima else nu.reshape((1,)),)

        def rule(g, m, mu):
            nu = accumulate(g, mu)
            g = g.astype(jnp.promote_types(g.dtype, nu.dtype))
            u = jnp.where(nu > 0, g * jax.lax.rsqrt(nu + eps_), 0)
            m = (1 - rho1) * u + rho1 * m
            return m, m

        updates_in = updates
        updates, momentum = per_leaf(rule, updates, state.momentum, shared=(state.mu,),
                                     what=owner)
        (mu,) = per_leaf(new_mu, state.mu, shared=(updates_in,), what=owner)
        return updates, state._replace(mu=mu, momentum=momentum)

    return block(owner, ScaleBySm3State, hyper, init, update)


# --- DoG (distance over gradients) ---------------------------------------------------------


class ScaleByDistanceOverGradientsState(NamedTuple):
    """The state of ``scale_by_distance_over_gradients``, per array (layer) of the params:
    ``max_dist`` r_t and ``grad_sum_of_squares`` G_t, one scalar each (trees of the params'
    leaves, also for flat params), and ``init_params`` θ_0 (like the params, in
    ``param_dtype``)."""

    max_dist: Any
    grad_sum_of_squares: Any
    init_params: Any
    hyperparams: dict[str, Any]


def _dog_storage_dtype(param_dtype: Any, override: Any) -> np.dtype:
    """The dtype θ_0 is kept in: ``override`` (a real dtype) at the param's kind (complex
    params get the complex dtype of that precision), or the param's own dtype."""
    if override is None:
        return np.dtype(param_dtype)
    if jnp.issubdtype(param_dtype, jnp.complexfloating):
        return np.dtype(jnp.promote_types(override, jnp.complex64))
    return np.dtype(override)


def _dog_stat_dtype(param_dtype: Any, init_dtype: Any) -> np.dtype:
    """The dtype of r and G: the real dtype of the param and of θ_0, float32 or wider."""
    return np.dtype(jnp.promote_types(jnp.promote_types(real_dtype(param_dtype),
                                                        real_dtype(init_dtype)), jnp.float32))


def _check_param_dtype(owner: str, param_dtype: Any) -> Any:
    """``param_dtype`` as a NumPy dtype (``None`` kept); a real floating dtype or None."""
    if param_dtype is None:
        return None
    try:
        dtype = np.dtype(param_dtype)
    except TypeError:
        dtype = None
    if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{owner}: param_dtype must be a real floating dtype or None, got "
                        f"{param_dtype!r}")
    return dtype


def scale_by_distance_over_gradients(
    reps_rel: float = 1e-6,
    eps: float = 1e-8,
    param_dtype: Any = jnp.float32,
    global_scale: float | Schedule = 1.0,
) -> GradientTransformation:
    """DoG, "distance over gradients" (Ivgi et al. 2023), layer-wise (their LDoG): a step
    size with no learning rate, the largest distance travelled from the initial params over
    the root of the summed squared gradients. Per array (layer), with θ_0 its value at
    ``init`` and θ_t the params passed to the t-th update:

        r_0 = r_ε (1 + ‖θ_0‖)
        r_t = max(r_{t−1}, ‖θ_t − θ_0‖)
        G_t = G_{t−1} + ‖g_t‖²,   G_0 = 0
        u = s · r_t / √(G_t + ε) · g_t

    ‖·‖ is the L2 norm of the whole array (|x|² for complex entries). The update has the
    sign of g times s: with ``global_scale`` s = −1 it is a descent step (the paper's
    θ ← θ − η_t g); chained after ``scale_by_learning_rate`` or with s = 1 it is a
    direction. The authors recommend averaging the iterates
    ([`gradtx.polyak_average`][]). Needs the params.

    The state keeps θ_0 (one copy of the params, in ``param_dtype``) and two scalars per
    array; r and G are stored in float32 or wider. optax 0.2.8's
    ``scale_by_distance_over_gradients`` is this rule (for real params).

    Args:
      reps_rel: r_ε > 0, the initial distance relative to 1 + ‖θ_0‖ (the paper: 1e-6, or
        1e-4 for models with batch normalization).
      eps: ε ≥ 0 added to G (no division by zero before a nonzero gradient).
      param_dtype: the dtype θ_0 is stored in (a real floating dtype; complex params keep
        the complex dtype of its precision), or ``None`` for each param's own dtype.
      global_scale: s, a real factor (typically 1 or −1).
    """
    owner = "scale_by_distance_over_gradients"
    Interval(low=0.0, low_open=True).check(owner, "reps_rel", reps_rel, allow_schedule=False)
    storage = _check_param_dtype(owner, param_dtype)
    hyper = HyperParams(owner, eps=(eps, NONNEGATIVE), global_scale=(global_scale, REAL))

    def init(params, hyperparams):
        def initial(p):
            if not is_trainable(p):
                return p
            return p.astype(_dog_storage_dtype(p.dtype, storage))

        def first_distance(p):
            if not is_trainable(p):
                return np.zeros((), p.dtype)
            stat = _dog_stat_dtype(p.dtype, _dog_storage_dtype(p.dtype, storage))
            return (reps_rel * (1 + jnp.sqrt(jnp.sum(abs_sq(p))))).astype(stat)

        def zero_sum(p):
            if not is_trainable(p):
                return np.zeros((), p.dtype)
            return jnp.zeros((), _dog_stat_dtype(p.dtype, _dog_storage_dtype(p.dtype, storage)))

        leaves = leaf_tree(params)
        return ScaleByDistanceOverGradientsState(
            jax.tree.map(first_distance, leaves), jax.tree.map(zero_sum, leaves),
            jax.tree.map(initial, params), hyperparams)

    def update(updates, state, params, h, step, **extra):
        expect_params(owner, params, updates)
        s, eps_ = h["global_scale"], h["eps"]

        def statistics(r, big_g, g, p, p0):
            distance = jnp.sqrt(jnp.sum(abs_sq(p - p0.astype(jnp.result_type(p, p0)))))
            return (jnp.maximum(r, distance.astype(r.dtype)),
                    big_g + jnp.sum(abs_sq(g)).astype(big_g.dtype))

        def rule(g, r, big_g):
            return ((s * (r / jnp.sqrt(big_g + eps_))) * g,)

        max_dist, sum_sq = per_leaf(statistics, state.max_dist, state.grad_sum_of_squares,
                                    shared=(updates, params, state.init_params), what=owner)
        (updates,) = per_leaf(rule, updates, shared=(max_dist, sum_sq), what=owner)
        return updates, state._replace(max_dist=max_dist, grad_sum_of_squares=sum_sq)

    return block(owner, ScaleByDistanceOverGradientsState, hyper, init, update)
