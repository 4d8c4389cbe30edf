"""Wrappers: transforms that hold other transforms or watch the params.

* :mod:`~gradtx.wrappers.groups` — parameter groups: ``masked``, ``partition``, ``freeze``;
* :mod:`~gradtx.wrappers.accumulate` — gradient accumulation over micro-batches;
* :mod:`~gradtx.wrappers.finite` — ``apply_if_finite``, NaN/Inf-safe steps;
* :mod:`~gradtx.wrappers.averaging` — parameter EMA, Polyak averaging, lookahead.

Mask polarity
-------------
One convention everywhere: ``True`` in a mask means **this leaf is selected**
— the wrapper acts on it. ``masked(inner, mask)`` applies ``inner`` where the
mask is ``True`` and passes the other leaves through unchanged;
``freeze(mask)`` freezes (zeroes the updates of) the leaves where the mask is
``True``; ``add_decayed_weights(mask=...)`` decays where it is ``True``.

A mask is a tree of Python bools with the structure of the params, or a prefix
of it (a bool then selects a whole subtree, for example a whole layer or an
``nnx.Param``), or a function of the params returning one. Functions are
called on the params, or on the updates when ``update`` gets no params, so
they should depend only on tree paths, shapes and dtypes. A function is a
callable that is a pytree leaf; a callable pytree with children (an
equinox-style module holding bools) is read as a tree, not called. A mask that
is not a prefix of the params raises ``ValueError`` naming the first path where
they differ. ``partition`` takes labels in the same forms.

Steps
-----
A wrapper passes its chain's step (see :mod:`gradtx.core.base`) to the
transforms it holds, except where it changes how often they run:
``accumulate_gradients`` and ``apply_if_finite`` hold the inner transform's
own step counter — the number of updates it has emitted — so schedules and
bias corrections inside them advance once per real update. These counters are
int32 and saturate at 2³¹ − 1, like the chain's.

Edges
-----
* A fresh state (``init``) shares no device buffer with the params or with
  itself, so ``jax.jit(update, donate_argnums=...)`` may donate it.
* Leaves whose gradient is not floating (int, bool, or float0 from
  ``jax.grad(..., allow_int=True)``) are not trained: the wrappers pass their
  updates through and leave their state alone.
* An empty model (``init(None)``, ``update(None, state, None)``) gives
  ``None`` updates; wrappers that need the params ask for them only when the
  updates have leaves.
"""
