"""L-BFGS and the line searches that choose its step.

Notation: w the params, g the gradient (the incoming update), u an update direction,
η a step size (learning rate), f the objective ``value_fn``, k the iteration (the
chain's step), m the memory size, ⟨a, b⟩ = Re Σ conj(a) b over all leaves.

    lbfgs = chain(scale_by_lbfgs(m) → scale(−1) [or scale_by_learning_rate(α)]
                  → scale_by_zoom_linesearch(...))

The line searches evaluate f along w + η u, so their ``update`` takes the extra
keywords of optax's (0.2.8) ``GradientTransformationExtraArgs``::

    value, grad = value_and_grad(params, state=state)     # value_and_grad_from_state(f)
    updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=f)

Other keywords that ``value_fn`` accepts (a batch, say) are passed on to it. L-BFGS and
the line searches act on the whole parameter vector at once (global inner products),
not array by array; every leaf of the params must be floating or complex. On
[`gradtx.flat`][]'s flat params ``value_fn`` takes the flat params (``f(flat.unravel())``);
under [`flatten`][gradtx.flat.flatten] it takes the tree, as the user wrote it. For complex
params the gradient is that of the real pair, ∂f/∂Re w + i ∂f/∂Im w (the conjugate of
``jax.grad``), as everywhere in gradtx: the line searches conjugate the gradients they
compute, and their slopes are ⟨g, u⟩. For real params this is optax's arithmetic.
"""

from __future__ import annotations

import functools
import inspect
import numbers
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from gradtx.blocks.learning_rate import scale, scale_by_learning_rate
from gradtx.core.base import GradientTransformation, expect_state, make_chain, stepped
from gradtx.core.hyperparams import hyperparam_dtype
from gradtx.core.numerics import real_dtype
from gradtx.core.tree import tree_sum_of_squares, tree_zeros_like
from gradtx.core.validate import check_bool, check_interval, check_number
from gradtx.flat._params import FlatParams

__all__ = [
    "ScaleByLbfgsState",
    "BacktrackingLinesearchInfo",
    "ScaleByBacktrackingLinesearchState",
    "ZoomLinesearchInfo",
    "ScaleByZoomLinesearchState",
    "scale_by_lbfgs",
    "scale_by_backtracking_linesearch",
    "scale_by_zoom_linesearch",
    "value_and_grad_from_state",
    "lbfgs",
]

PyTree = Any


# --- tree arithmetic over the whole parameter vector ---------------------------------------


def _dot(a: PyTree, b: PyTree) -> jax.Array:
    """⟨a, b⟩ = Re Σ conj(a) b over all leaves, at the highest matmul precision."""

    def leaf(x, y):
        x = jnp.conj(x) if jnp.iscomplexobj(x) else x
        return jnp.tensordot(x, y, jnp.ndim(x), precision=jax.lax.Precision.HIGHEST)

    return jnp.real(sum(jax.tree.leaves(jax.tree.map(leaf, a, b)), start=0))


def _axpy(x: PyTree, a: jax.Array, y: PyTree) -> PyTree:
    """x + a y, leaf by leaf, in x's dtypes."""
    return jax.tree.map(lambda xi, yi: (xi + a * yi).astype(xi.dtype), x, y)


def _scaled(a: jax.Array, x: PyTree) -> PyTree:
    return jax.tree.map(lambda xi: (a * xi).astype(xi.dtype), x)


def _where(condition: jax.Array, x: PyTree, y: PyTree) -> PyTree:
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), x, y)


def _value_dtype(params: PyTree) -> Any:
    """The real dtype of values, slopes and step sizes: that of the params' widest leaf."""
    leaves = jax.tree.leaves(params)
    return real_dtype(jnp.result_type(*leaves)) if leaves else jnp.float32


def _conj(tree: PyTree) -> PyTree:
    """The real pair's gradient from ``jax.grad``'s (their conjugate; real leaves unchanged)."""
    return jax.tree.map(lambda x: jnp.conj(x) if jnp.iscomplexobj(x) else x, tree)


def _check_count(owner: str, name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        kind = "a positive" if low == 1 else "a non-negative"
        raise ValueError(f"{owner}: {name} must be {kind} integer, got {value!r}")


# --- L-BFGS direction ----------------------------------------------------------------------


class ScaleByLbfgsState(NamedTuple):
    """The last params and gradient, and the m most recent curvature pairs.

    ``diff_params_memory`` and ``diff_updates_memory`` hold s_j = w_{j+1} − w_j and
    y_j = g_{j+1} − g_j stacked along a leading axis of size m (slot j mod m);
    ``weights_memory`` holds ρ_j = 1/⟨y_j, s_j⟩ (0 where ⟨y_j, s_j⟩ = 0).
    """

    params: Any
    updates: Any
    diff_params_memory: Any
    diff_updates_memory: Any
    weights_memory: jax.Array


def _two_loop(g: PyTree, s_mem: PyTree, y_mem: PyTree, rho: jax.Array, gamma: jax.Array,
              newest_last: jax.Array) -> PyTree:
    """H_k g by the two-loop recursion (Nocedal & Wright, Alg. 7.4), with H_k⁰ = γ I.

        q ← g;  for j = k−1 … k−m:  a_j = ρ_j ⟨s_j, q⟩,  q ← q − a_j y_j
        r ← γ q;  for j = k−m … k−1:  b = ρ_j ⟨y_j, r⟩,  r ← r + (a_j − b) s_j

    Unused slots have ρ_j = 0 and s_j = y_j = 0, so they change nothing.
    """
    m = rho.shape[0]
    order = (newest_last + jnp.arange(m)) % m

    def pair(j):
        return jax.tree.map(lambda x: x[j], s_mem), jax.tree.map(lambda x: x[j], y_mem)

    def backward(q, j):
        s_j, y_j = pair(j)
        a_j = rho[j] * _dot(s_j, q)
        return _axpy(q, -a_j, y_j), a_j

    q, a = jax.lax.scan(backward, g, order, reverse=True)
    r = _scaled(gamma, q)

    def forward(r, j_a):
        j, a_j = j_a
        s_j, y_j = pair(j)
        b = rho[j] * _dot(y_j, r)
        return _axpy(r, a_j - b, s_j), b

    r, _ = jax.lax.scan(forward, r, (order, a))
    return r


def scale_by_lbfgs(memory_size: int = 10, scale_init_precond: bool = True
                   ) -> GradientTransformation:
    """The L-BFGS direction u = H_k g (Liu & Nocedal 1989; Nocedal & Wright, Alg. 7.4).

    At iteration k the pair s_{k−1} = w_k − w_{k−1}, y_{k−1} = g_k − g_{k−1} enters the
    memory (replacing the oldest of the m pairs), then H_k g is computed by the two-loop
    recursion from H_k⁰ = γ_k I with

        γ_k = ⟨s_{k−1}, y_{k−1}⟩ / ‖y_{k−1}‖²    (1 where ‖y_{k−1}‖ = 0),
        γ_0 = min(1, 1/‖g_0‖)                       (the first step stays in the unit ball)

    if ``scale_init_precond``, else γ_k = 1. As optax's ``scale_by_lbfgs``. The result
    is a direction to scale by −η (``scale(-1)`` and a line search, as [`lbfgs`][gradtx.lbfgs]).
    Uses the chain's step as k.

    Args:
      memory_size: m ≥ 1, the number of curvature pairs kept.
      scale_init_precond: use the scaled identity γ_k I (else I).
    """
    owner = "scale_by_lbfgs"
    _check_count(owner, "memory_size", memory_size, 1)
    check_bool(owner, "scale_init_precond", scale_init_precond)

    def init(params):
        stacked = jax.tree.map(
            lambda p: jnp.zeros((memory_size, *jnp.shape(p)), jnp.result_type(p)), params)
        return ScaleByLbfgsState(
            params=tree_zeros_like(params),
            updates=tree_zeros_like(params),
            diff_params_memory=stacked,
            diff_updates_memory=stacked,
            weights_memory=jnp.zeros((memory_size,), hyperparam_dtype(params)),
        )

    def update(updates, state, params=None, *, step, **extra):
        expect_state(state, ScaleByLbfgsState, owner)
        if params is None:
            raise ValueError(f"{owner}: needs the params; call update(updates, state, params)")
        step = jnp.asarray(step)
        first = step == 0
        newest = (step - 1) % memory_size
        s = jax.tree.map(jnp.subtract, params, state.params)
        y = jax.tree.map(jnp.subtract, updates, state.updates)
        sy = _dot(y, s)
        rho = jnp.where(sy == 0, 0, 1 / jnp.where(sy == 0, 1, sy))
        s, y, rho = jax.tree.map(lambda x: jnp.where(first, jnp.zeros_like(x), x), (s, y, rho))
        s_mem, y_mem, rho_mem = jax.tree.map(
            lambda mem, new: mem.at[newest].set(new.astype(mem.dtype)),
            (state.diff_params_memory, state.diff_updates_memory, state.weights_memory),
            (s, y, rho))
        if scale_init_precond:
            yy = tree_sum_of_squares(y)
            gamma = jnp.where(yy > 0, _dot(y, s) / jnp.where(yy > 0, yy, 1), 1)
            g_norm = jnp.sqrt(tree_sum_of_squares(jax.lax.stop_gradient(updates)))
            gamma = jnp.where(first, jnp.minimum(1, 1 / g_norm), gamma)
        else:
            gamma = jnp.asarray(1.0, rho_mem.dtype)
        direction = _two_loop(updates, s_mem, y_mem, rho_mem, gamma, step % memory_size)
        return direction, ScaleByLbfgsState(params, updates, s_mem, y_mem, rho_mem)

    return stepped(init, update, owner)


# --- shared by the line searches -----------------------------------------------------------


def _split_kwargs(
    owner: str, value_fn: Callable[..., Any], extra: dict[str, Any]
) -> dict[str, Any]:
    """The extra keywords for ``value_fn``; any it does not accept is an error (a typo)."""
    names = inspect.signature(value_fn).parameters
    unused = sorted(k for k in extra if k not in names)
    if unused:
        raise TypeError(f"{owner}: keyword arguments {unused} are not arguments of value_fn")
    return dict(extra)


def _needs_objective(owner: str, params: Any, value: Any, grad: Any, value_fn: Any) -> None:
    if params is None or value is None or grad is None or value_fn is None:
        raise ValueError(f"{owner}: needs the params and the objective; call "
                         "update(grads, state, params, value=f(params), grad=grads, value_fn=f)")


def _print_if(condition: jax.Array, message: str, **values: Any) -> None:
    jax.lax.cond(condition, lambda: jax.debug.print(message, **values, ordered=True),
                 lambda: None)


# --- backtracking (Armijo) -----------------------------------------------------------------


class BacktrackingLinesearchInfo(NamedTuple):
    """``num_linesearch_steps``: evaluations of f; ``decrease_error``: how far the accepted
    step is from sufficient decrease (0 when it is sufficient)."""

    num_linesearch_steps: jax.Array
    decrease_error: jax.Array


class ScaleByBacktrackingLinesearchState(NamedTuple):
    """The accepted step size η, f and (with ``store_grad``) ∇f at w + η u, for
    [`value_and_grad_from_state`][gradtx.value_and_grad_from_state]."""

    learning_rate: jax.Array
    value: jax.Array
    grad: Any
    info: BacktrackingLinesearchInfo


class _Backtrack(NamedTuple):
    learning_rate: jax.Array
    new_value: jax.Array
    new_grad: Any
    decrease_error: jax.Array
    iter_num: jax.Array


def scale_by_backtracking_linesearch(
    max_backtracking_steps: int,
    slope_rtol: float = 1e-4,
    decrease_factor: float = 0.8,
    increase_factor: float = 1.5,
    max_learning_rate: float = 1.0,
    atol: float = 0.0,
    rtol: float = 0.0,
    store_grad: bool = False,
    verbose: bool = False,
) -> GradientTransformation:
    """Backtracking line search for sufficient decrease (Armijo; Nocedal & Wright §3.1):
    the first η in η_0, β η_0, β² η_0, … with

        f(w + η u) ≤ (1 + δ) f(w) + c η ⟨g, u⟩ + ε

    where η_0 = min(ι η_prev, η_max) grows from the last accepted step (η_prev = 1 at
    first), β = ``decrease_factor``, c = ``slope_rtol``, δ = ``rtol``, ε = ``atol``.
    u ← η u. After ``max_backtracking_steps`` reductions the last η is kept; η = 0 if f
    was never finite. As optax's ``scale_by_backtracking_linesearch``. ``u`` must be a
    descent direction (⟨g, u⟩ < 0), as −g after ``scale_by_learning_rate`` is.

    Args:
      max_backtracking_steps: the most reductions of η (≥ 0).
      slope_rtol: c in [0, 1). decrease_factor: β in (0, 1).
      increase_factor: ι ≥ 1 (``math.inf``: start from η_max every time).
      max_learning_rate: η_max > 0. atol: ε ≥ 0. rtol: δ ≥ 0.
      store_grad: also compute ∇f at the accepted point, for
        [`value_and_grad_from_state`][gradtx.value_and_grad_from_state] (one gradient per search).
      verbose: print a message when no step gives sufficient decrease.
    """
    owner = "scale_by_backtracking_linesearch"
    _check_count(owner, "max_backtracking_steps", max_backtracking_steps, 0)
    check_interval(owner, "slope_rtol", slope_rtol, low=0.0, high=1.0, high_open=True,
                   allow_schedule=False)
    check_interval(owner, "decrease_factor", decrease_factor, low=0.0, high=1.0,
                   low_open=True, high_open=True, allow_schedule=False)
    check_number(owner, "increase_factor", increase_factor, allow_schedule=False)
    if not increase_factor >= 1:
        raise ValueError(f"{owner}: increase_factor must be in [1.0, inf], got "
                         f"{increase_factor!r}")
    check_interval(owner, "max_learning_rate", max_learning_rate, low=0.0, low_open=True,
                   allow_schedule=False)
    check_interval(owner, "atol", atol, low=0.0, allow_schedule=False)
    check_interval(owner, "rtol", rtol, low=0.0, allow_schedule=False)
    check_bool(owner, "store_grad", store_grad)
    check_bool(owner, "verbose", verbose)

    def init(params):
        dtype = _value_dtype(params)
        return ScaleByBacktrackingLinesearchState(
            learning_rate=jnp.asarray(1.0, dtype),
            value=jnp.asarray(jnp.inf, dtype),
            grad=tree_zeros_like(params) if store_grad else None,
            info=BacktrackingLinesearchInfo(jnp.asarray(0, jnp.int32),
                                            jnp.asarray(jnp.inf, dtype)),
        )

    def update(updates, state, params=None, *, value=None, grad=None, value_fn=None, **extra):
        expect_state(state, ScaleByBacktrackingLinesearchState, owner)
        _needs_objective(owner, params, value, grad, value_fn)
        f = functools.partial(value_fn, **_split_kwargs(owner, value_fn, extra))
        dtype = state.learning_rate.dtype
        value = jnp.asarray(value, dtype)
        slope = _dot(grad, updates)

        def decrease_error(lr, new_value):
            error = new_value - (1.0 + rtol) * value - lr * slope_rtol * slope
            return jnp.maximum(jnp.where(jnp.isnan(error), jnp.inf, error), 0.0)

        def keep_going(search):
            return ~(search.decrease_error <= atol) & (search.iter_num <= max_backtracking_steps)

        def body(search):
            lr = jnp.where(search.iter_num > 0, decrease_factor * search.learning_rate,
                           search.learning_rate)
            trial = _axpy(params, lr, updates)
            if store_grad:
                new_value, jvp = jax.linearize(f, trial)
                error = decrease_error(lr, new_value)
                new_grad = jax.lax.cond(
                    (error <= atol) | (search.iter_num == max_backtracking_steps),
                    lambda: _conj(jax.linear_transpose(jvp, trial)(jnp.ones_like(new_value))[0]),
                    lambda: search.new_grad)
            else:
                new_value = f(trial)
                error = decrease_error(lr, new_value)
                new_grad = search.new_grad
            new = _Backtrack(lr, new_value, new_grad, error, search.iter_num + 1)
            return jax.tree.map(lambda a, b: jnp.asarray(a, b.dtype), new, search)

        guess = jnp.asarray(max_learning_rate, dtype) if increase_factor == float("inf") \
            else jnp.minimum(increase_factor * state.learning_rate, max_learning_rate)
        start = _Backtrack(
            learning_rate=guess.astype(dtype),
            new_value=value,
            new_grad=tree_zeros_like(params),
            decrease_error=jnp.asarray(jnp.inf, dtype),
            iter_num=jnp.asarray(0, jnp.int32),
        )
        search = jax.lax.while_loop(keep_going, body, start)
        learning_rate = jnp.where(jnp.isinf(search.decrease_error), 0.0, search.learning_rate)
        if verbose:
            _print_if(search.decrease_error > atol,
                      owner + ": no step size gave sufficient decrease (value {v}, slope {s}, "
                      "step size {lr}, decrease error {e})", v=value, s=slope,
                      lr=learning_rate, e=search.decrease_error)
        new_state = ScaleByBacktrackingLinesearchState(
            learning_rate=learning_rate.astype(dtype),
            value=search.new_value.astype(dtype),
            grad=search.new_grad if store_grad else None,
            info=BacktrackingLinesearchInfo(search.iter_num, search.decrease_error),
        )
        return _scaled(learning_rate, updates), new_state

    return GradientTransformation(init, update)


# --- zoom (strong Wolfe) -------------------------------------------------------------------


class ZoomLinesearchInfo(NamedTuple):
    """``num_linesearch_steps``: evaluations of f and ∇f; ``decrease_error`` and
    ``curvature_error``: how far the accepted step is from each condition (0: met)."""

    num_linesearch_steps: jax.Array
    decrease_error: jax.Array
    curvature_error: jax.Array


class ScaleByZoomLinesearchState(NamedTuple):
    """The accepted step size η, and f and ∇f at w + η u, for
    [`value_and_grad_from_state`][gradtx.value_and_grad_from_state]."""

    learning_rate: jax.Array
    value: jax.Array
    grad: Any
    info: ZoomLinesearchInfo


_Point = tuple[jax.Array, jax.Array, jax.Array]
"""(η, f(η), f'(η)): a step size along the direction, the value and the slope there."""


class _Zoom(NamedTuple):
    """One point of the search and the bracket [low, high] around an acceptable η.

    ``low``/``high`` are not ordered: f(low) ≤ f(high). ``cubic_ref`` is the third point
    of the cubic interpolation; ``safe_*`` the best point with sufficient decrease.
    """

    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count
    stepsize: jax.Array
    value: jax.Array
    grad: Any
    slope: jax.Array
    decrease_error: jax.Array
    curvature_error: jax.Array
    error: jax.Array
    interval_found: jax.Array
    done: jax.Array
    failed: jax.Array
    low: jax.Array
    value_low: jax.Array
    slope_low: jax.Array
    high: jax.Array
    value_high: jax.Array
    slope_high: jax.Array
    cubic_ref: jax.Array
    value_cubic_ref: jax.Array
    safe_stepsize: jax.Array
    safe_value: jax.Array
    safe_grad: Any


def _cubicmin(a, fa, fpa, b, fb, c, fc):
    """The critical point of the cubic through (a, fa), (b, fb), (c, fc) with slope fpa at a
    (scipy's ``_cubicmin``); NaN when it has none."""
    db, dc = b - a, c - a
    denominator = (db * dc) ** 2 * (db - dc)
    d1 = jnp.array([[dc**2, -(db**2)], [-(dc**3), db**3]])
    big_a, big_b = jnp.dot(d1, jnp.array([fb - fa - fpa * db, fc - fa - fpa * dc]),
                           precision=jax.lax.Precision.HIGHEST) / denominator
    radical = big_b * big_b - 3.0 * big_a * fpa
    return a + (-big_b + jnp.sqrt(radical)) / (3.0 * big_a)


def _quadmin(a, fa, fpa, b, fb):
    """The critical point of the quadratic through (a, fa), (b, fb) with slope fpa at a."""
    db = b - a
    curvature = (fb - fa - fpa * db) / (db**2)
    return a - fpa / (2.0 * curvature)


def scale_by_zoom_linesearch(
    max_linesearch_steps: int,
    max_learning_rate: float | None = None,
    tol: float = 0.0,
    increase_factor: float = 2.0,
    slope_rtol: float = 1e-4,
    curv_rtol: float = 0.9,
    approx_dec_rtol: float | None = 1e-6,
    stepsize_precision: float = 1e-5,
    initial_guess_strategy: Literal["one", "keep"] = "keep",
    verbose: bool = False,
) -> GradientTransformation:
    """Line search for the strong Wolfe conditions (Nocedal & Wright, Alg. 3.5 and 3.6):
    an η with

        f(w + η u) ≤ f(w) + c₁ η ⟨g, u⟩ + ε                 (sufficient decrease)
        |⟨∇f(w + η u), u⟩| ≤ c₂ |⟨g, u⟩| + ε                (small curvature)

    c₁ = ``slope_rtol``, c₂ = ``curv_rtol``, ε = ``tol``; u ← η u. Near a minimum, where
    f(w + η u) ≤ f(w) + c₃ |f(w)| (c₃ = ``approx_dec_rtol``), the first condition may be
    met in Hager & Zhang's (2006) approximate form ⟨∇f(w + η u), u⟩ ≤ (2c₁ − 1) ⟨g, u⟩
    instead (``approx_dec_rtol=None``: never).

    Phase 1 tries η_0 (1, or the last accepted η for ``"keep"``), then multiplies it by
    ``increase_factor`` until a bracket is found (capped at ``max_learning_rate``);
    phase 2 shrinks the bracket by cubic, else quadratic, else bisection steps. If the
    bracket falls below ``stepsize_precision`` or ``max_linesearch_steps`` is reached, the
    best η with sufficient decrease is taken (η = 0 if f was never finite). As optax's
    ``scale_by_zoom_linesearch`` (0.2.8); ``curv_rtol=math.inf`` leaves only the
    decrease condition.

    Args:
      max_linesearch_steps: the most evaluations of f and ∇f (≥ 1).
      max_learning_rate: an upper bound on η, or None.
      tol: ε ≥ 0. increase_factor: > 1. slope_rtol: c₁ in (0, 1).
      curv_rtol: c₂ > c₁ (``math.inf`` allowed). approx_dec_rtol: c₃ ≥ 0 or None.
      stepsize_precision: the bracket length (≥ 0) below which the search stops.
      initial_guess_strategy: ``"one"`` (for Newton-like directions such as L-BFGS) or
        ``"keep"`` (for gradient directions).
      verbose: print a message when no step meets both conditions.
    """
    owner = "scale_by_zoom_linesearch"
    _check_count(owner, "max_linesearch_steps", max_linesearch_steps, 1)
    if max_learning_rate is not None:
        check_interval(owner, "max_learning_rate", max_learning_rate, low=0.0, low_open=True,
                       allow_schedule=False)
    check_interval(owner, "tol", tol, low=0.0, allow_schedule=False)
    check_interval(owner, "increase_factor", increase_factor, low=1.0, low_open=True,
                   allow_schedule=False)
    check_interval(owner, "slope_rtol", slope_rtol, low=0.0, high=1.0, low_open=True,
                   high_open=True, allow_schedule=False)
    check_number(owner, "curv_rtol", curv_rtol, allow_schedule=False)
    if not curv_rtol > slope_rtol:
        raise ValueError(f"{owner}: curv_rtol must be larger than slope_rtol ({slope_rtol!r}; "
                         f"math.inf drops the curvature condition), got {curv_rtol!r}")
    if approx_dec_rtol is not None:
        check_interval(owner, "approx_dec_rtol", approx_dec_rtol, low=0.0, allow_schedule=False)
    check_interval(owner, "stepsize_precision", stepsize_precision, low=0.0,
                   allow_schedule=False)
    if initial_guess_strategy not in ("one", "keep"):
        raise ValueError(f"{owner}: initial_guess_strategy must be 'one' or 'keep', got "
                         f"{initial_guess_strategy!r}")
    check_bool(owner, "verbose", verbose)

    def init(params):
        dtype = _value_dtype(params)
        return ScaleByZoomLinesearchState(
            learning_rate=jnp.asarray(1.0, dtype),
            value=jnp.asarray(jnp.inf, dtype),
            grad=tree_zeros_like(params),
            info=ZoomLinesearchInfo(jnp.asarray(0, jnp.int32), jnp.asarray(jnp.inf, dtype),
                                    jnp.asarray(jnp.inf, dtype)),
        )

    def update(updates, state, params=None, *, value=None, grad=None, value_fn=None, **extra):
        expect_state(state, ScaleByZoomLinesearchState, owner)
        _needs_objective(owner, params, value, grad, value_fn)
        value_and_grad = jax.value_and_grad(
            functools.partial(value_fn, **_split_kwargs(owner, value_fn, extra)))
        dtype = state.learning_rate.dtype
        value_init = jnp.asarray(value, dtype)
        slope_init = _dot(grad, updates).astype(dtype)
        guess = jnp.asarray(1.0, dtype) if initial_guess_strategy == "one" \
            else state.learning_rate

        def on_line(stepsize):
            """f, ∇f and the slope ⟨∇f, u⟩ at w + η u."""
            v, g = value_and_grad(_axpy(params, stepsize, updates))
            g = _conj(g)
            return jnp.asarray(v, dtype), g, _dot(g, updates).astype(dtype)

        def decrease_error(stepsize, value_step, slope_step):
            error = value_step - value_init - slope_rtol * stepsize * slope_init
            if approx_dec_rtol is not None:
                approx = slope_step - (2 * slope_rtol - 1.0) * slope_init
                above = value_step - value_init - approx_dec_rtol * jnp.abs(value_init)
                error = jnp.minimum(jnp.maximum(approx, above), error)
            error = jnp.maximum(error, 0.0)
            return jnp.where(jnp.isnan(error), jnp.inf, error)

        def curvature_error(slope_step):
            error = jnp.maximum(jnp.abs(slope_step) - curv_rtol * jnp.abs(slope_init), 0.0)
            return jnp.where(jnp.isnan(error), jnp.inf, error)

        def search_interval(z: _Zoom) -> _Zoom:
            """Phase 1 (Alg. 3.5): grow η until the bracket [low, high] is found."""
            first = z.count == 0
            stepsize = jnp.where(first, guess, increase_factor * z.stepsize)
            if max_learning_rate is not None:
                at_max = stepsize >= max_learning_rate
                stepsize = jnp.minimum(stepsize, max_learning_rate)
            else:
                at_max = jnp.asarray(False)
            value_step, grad_step, slope_step = on_line(stepsize)
            dec = decrease_error(stepsize, value_step, slope_step)
            curv = curvature_error(slope_step)
            error = jnp.maximum(dec, curv)
            safe = dec <= tol
            safe_stepsize, safe_value, safe_grad = _where(
                safe, (stepsize, value_step, grad_step), (z.safe_stepsize, z.safe_value,
                                                          z.safe_grad))
            high_is_new = (dec > 0.0) | ((value_step >= z.value) & ~first)
            low_is_new = (slope_step >= 0.0) & ~high_is_new
            previous = (z.stepsize, z.value, z.slope)
            new = (stepsize, value_step, slope_step)
            (low, value_low, slope_low), (high, value_high, slope_high) = _where(
                low_is_new, (new, previous), (previous, new))
            interval_found = high_is_new | low_is_new | (error <= tol)
            done = (error <= tol) | (at_max & ~interval_found)
            failed = (z.count + 1 >= max_linesearch_steps) & ~done
            return _Zoom(z.count + 1, stepsize, value_step, grad_step, slope_step, dec, curv,
                         error, interval_found, done, failed, low, value_low, slope_low, high,
                         value_high, slope_high, low, value_low, safe_stepsize, safe_value,
                         safe_grad)

        def zoom(z: _Zoom) -> _Zoom:
            """Phase 2 (Alg. 3.6): shrink the bracket by interpolation."""
            delta = jnp.abs(z.high - z.low)
            left, right = jnp.minimum(z.high, z.low), jnp.maximum(z.high, z.low)
            cubic = _cubicmin(z.low, z.value_low, z.slope_low, z.high, z.value_high,
                              z.cubic_ref, z.value_cubic_ref)
            use_cubic = (cubic > left + 0.2 * delta) & (cubic < right - 0.2 * delta)
            quad = _quadmin(z.low, z.value_low, z.slope_low, z.high, z.value_high)
            use_quad = ~use_cubic & (quad > left + 0.1 * delta) & (quad < right - 0.1 * delta)
            middle = jnp.where(use_cubic, cubic, z.cubic_ref)
            middle = jnp.where(use_quad, quad, middle)
            middle = jnp.where(~use_cubic & ~use_quad, (z.low + z.high) / 2.0, middle)
            value_mid, grad_mid, slope_mid = on_line(middle)
            dec = decrease_error(middle, value_mid, slope_mid)
            curv = curvature_error(slope_mid)
            error = jnp.maximum(dec, curv)
            better_safe = (dec <= tol) & (value_mid < z.safe_value)
            safe_stepsize, safe_value, safe_grad = _where(
                better_safe, (middle, value_mid, grad_mid),
                (z.safe_stepsize, z.safe_value, z.safe_grad))
            done = error <= tol
            high_is_mid = (dec > 0.0) | (value_mid >= z.value_low)
            high_is_low = (slope_mid * (z.high - z.low) >= 0.0) & ~high_is_mid
            low_is_mid = ~high_is_mid
            mid = (middle, value_mid, slope_mid)
            old_low = (z.low, z.value_low, z.slope_low)
            high3: _Point = _where(high_is_mid, mid, (z.high, z.value_high, z.slope_high))
            high3 = _where(high_is_low, old_low, high3)
            low3: _Point = _where(low_is_mid, mid, old_low)
            cubic_ref, value_cubic_ref = _where(high_is_mid | high_is_low,
                                                (z.high, z.value_high), (z.low, z.value_low))
            too_small = delta <= stepsize_precision
            failed = ((z.count + 1 >= max_linesearch_steps)
                      | (too_small & (safe_stepsize > 0.0))) & ~done
            return _Zoom(z.count + 1, middle, value_mid, grad_mid, slope_mid, dec, curv, error,
                         z.interval_found, done, failed, *low3, *high3, cubic_ref,
                         value_cubic_ref, safe_stepsize, safe_value, safe_grad)

        def fall_back(z: _Zoom) -> _Zoom:
            """On failure: the best point with sufficient decrease, if any (or η = 0 when f
            was never finite)."""
            use_safe = (z.safe_stepsize > 0.0) | jnp.isinf(z.decrease_error)
            stepsize, value_, grad_ = _where(use_safe, (z.safe_stepsize, z.safe_value,
                                                        z.safe_grad), (z.stepsize, z.value,
                                                                       z.grad))
            return z._replace(stepsize=stepsize, value=value_, grad=grad_)

        def step(z: _Zoom) -> _Zoom:
            z_new = jax.lax.cond(z.interval_found, zoom, search_interval, z)
            z_new = jax.lax.cond(z_new.failed, fall_back, lambda x: x, z_new)
            return jax.tree.map(lambda a, b: jnp.asarray(a, b.dtype), z_new, z)

        zero = jnp.asarray(0.0, dtype)
        inf = jnp.asarray(jnp.inf, dtype)
        false = jnp.asarray(False)
        start = _Zoom(jnp.asarray(0, jnp.int32), zero, value_init, grad, slope_init, inf, inf,
                      inf, false, false, false, zero, value_init, slope_init, zero, value_init,
                      slope_init, zero, value_init, zero, value_init, grad)
        z = jax.lax.while_loop(lambda z: ~(z.done | z.failed), step, start)
        if verbose:
            _print_if(z.error > tol,
                      owner + ": no step size met both conditions (value {v}, slope {s}, "
                      "step size {lr}, decrease error {d}, curvature error {c})",
                      v=value_init, s=slope_init, lr=z.stepsize, d=z.decrease_error,
                      c=z.curvature_error)
        new_state = ScaleByZoomLinesearchState(
            learning_rate=z.stepsize, value=z.value, grad=z.grad,
            info=ZoomLinesearchInfo(z.count, z.decrease_error, z.curvature_error))
        return _scaled(z.stepsize, updates), new_state

    return GradientTransformation(init, update)


# --- reusing the line search's last evaluation ---------------------------------------------


def _linesearch_states(node: Any) -> list[Any]:
    """Every state in ``node`` that holds a line search's last ``value`` and ``grad``."""
    if isinstance(node, tuple) and hasattr(node, "_fields"):
        if "value" in node._fields and "grad" in node._fields:
            return [node]
        return [s for child in node for s in _linesearch_states(child)]
    if isinstance(node, tuple | list):
        return [s for child in node for s in _linesearch_states(child)]
    if isinstance(node, dict):
        return [s for child in node.values() for s in _linesearch_states(child)]
    return []


def value_and_grad_from_state(
    value_fn: Callable[..., jax.Array],
) -> Callable[..., tuple[jax.Array, PyTree]]:
    """Like ``jax.value_and_grad(value_fn)``, but reuses f and ∇f at the current params
    when the optimizer's line search has just computed them.

    The returned function is called as ``value_and_grad(params, *args, state=opt_state,
    **kwargs)``; it takes the ``value`` and ``grad`` of the single line-search state in
    ``opt_state`` ([`scale_by_zoom_linesearch`][gradtx.scale_by_zoom_linesearch], or
    [`scale_by_backtracking_linesearch`][gradtx.scale_by_backtracking_linesearch] with
    ``store_grad=True``), and evaluates
    ``value_fn`` instead where that value is not finite (before the first step). For a
    deterministic objective this saves one evaluation per iteration. Complex gradients
    are the real pair's (the conjugate of ``jax.grad``'s).
    """
    owner = "value_and_grad_from_state"

    def value_and_grad(params, *fn_args, state, **fn_kwargs):
        found = _linesearch_states(state)
        if len(found) != 1:
            raise ValueError(f"{owner}: the optimizer state must hold exactly one line search "
                             f"with value and grad, found {len(found)}")
        stored = found[0]
        if stored.grad is None:
            raise ValueError(f"{owner}: the line search does not store the gradient; build it "
                             "with store_grad=True")

        def compute(p, args, kwargs):
            v, g = jax.value_and_grad(value_fn)(p, *args, **kwargs)
            return jnp.asarray(v, stored.value.dtype), _conj(g)

        stored_grad = stored.grad
        if isinstance(stored_grad, FlatParams) and not isinstance(params, FlatParams):
            # The state of flatten(tx): the line search ran on flat buffers, f on the tree.
            stored_grad = stored_grad.unravel()
        return jax.lax.cond(jnp.isfinite(stored.value), lambda *_: (stored.value, stored_grad),
                            compute, params, fn_args, fn_kwargs)

    return value_and_grad


# --- the optimizer -------------------------------------------------------------------------

_DEFAULT_LINESEARCH = scale_by_zoom_linesearch(max_linesearch_steps=20,
                                               initial_guess_strategy="one")


def lbfgs(
    learning_rate: float | Callable[[Any], Any] | None = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: GradientTransformation | None = _DEFAULT_LINESEARCH,
) -> GradientTransformation:
    """L-BFGS (Liu & Nocedal 1989) with a strong-Wolfe line search.

        u_k = H_k g_k (two-loop recursion, m pairs),   w_{k+1} = w_k − η_k u_k

    Chain: scale_by_lbfgs(m, scale_init_precond) → scale(−1) (or
    scale_by_learning_rate(α) when ``learning_rate`` is given) → ``linesearch``
    (default scale_by_zoom_linesearch(max_linesearch_steps=20,
    initial_guess_strategy="one"); ``None``: no line search, η_k = α). As optax's
    ``lbfgs`` (0.2.8). Each update needs the objective::

        value_and_grad = gradtx.value_and_grad_from_state(f)
        value, grad = value_and_grad(params, state=state)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=f)

    torch's ``LBFGS(line_search_fn="strong_wolfe")`` is the same method with other
    details: its first step is min(1, 1/‖g‖₁) (here the first direction is scaled by
    min(1, 1/‖g‖₂) and tried with η = 1), its line search interpolates differently, and
    it runs ``max_iter`` iterations per ``step`` with its own stopping tolerances.

    Args:
      learning_rate: None (the line search alone sets η), or α ≥ 0 (a number or schedule)
        that scales the direction before the line search.
      memory_size: m ≥ 1. scale_init_precond: H⁰ = γ_k I (else I).
      linesearch: a line search transformation, or None.
    """
    owner = "lbfgs"
    _check_count(owner, "memory_size", memory_size, 1)
    if linesearch is not None and not (hasattr(linesearch, "init")
                                       and hasattr(linesearch, "update")):
        raise TypeError(f"{owner}: linesearch must be a GradientTransformation or None, got "
                        f"{type(linesearch).__name__}")
    parts: dict[str, GradientTransformation] = {
        "lbfgs": scale_by_lbfgs(memory_size, scale_init_precond)}
    if learning_rate is None:
        parts["flip"] = scale(-1.0)
    else:
        check_interval(owner, "learning_rate", learning_rate, low=0.0)
        parts["learning_rate"] = scale_by_learning_rate(learning_rate)
    if linesearch is not None:
        parts["linesearch"] = linesearch
    return make_chain(parts, owner)

