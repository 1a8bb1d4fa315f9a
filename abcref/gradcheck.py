"""Central-difference gradient checks for hand-written backward passes.

Every backward function in abcref is tested against these numerical
gradients in float64. The tutorials use them too, so a learner can see
that an analytic gradient is right instead of being told so.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from abcref._checks import check_array, check_real


def numerical_gradient(
    f: Callable[[np.ndarray], np.ndarray | float],
    x: np.ndarray,
    dout: np.ndarray | float,
    h: float = 1e-6,
) -> np.ndarray:
    """Gradient of ``sum(dout * f(x))`` with respect to ``x``.

    Parameters
    ----------
    f : callable
        ``f(x)`` returns an array (any shape) or a scalar. It is called
        ``2 * x.size`` times with ``x`` perturbed **in place**, so ``f``
        may also ignore its argument and read ``x`` through a closure.
    x : ndarray, float64
        The point at which to differentiate. Each element is perturbed
        by ``+h`` and ``-h`` and restored exactly (even if ``f`` raises).
    dout : ndarray or float
        Upstream gradient with the shape of ``f(x)`` (a scalar for a
        scalar ``f``).
    h : float
        Step size of the central difference.

    Returns
    -------
    grad : ndarray, shape ``x.shape``, float64
        ``grad[i] = (g(x + h e_i) - g(x - h e_i)) / (2 h)`` with
        ``g(x) = sum(dout * f(x))``.

    Raises
    ------
    TypeError
        If ``x`` is not a float64 array (float32 cannot resolve a
        central difference to the accuracy the checks need).
    ValueError
        If ``h`` is not positive or ``dout`` does not match ``f(x)``.

    Notes
    -----
    The truncation error is :math:`O(h^2)`; with ``h = 1e-6`` in float64
    the rounding error is about ``1e-16 / h = 1e-10`` relative to
    ``|g|``, so a correct gradient agrees to about 1e-8 or better.

    Examples
    --------
    >>> x = np.array([1.0, 2.0])
    >>> g = numerical_gradient(lambda v: v**2, x, np.ones(2))
    >>> np.allclose(g, [2.0, 4.0])
    True
    """
    check_array(x, "x")
    if x.dtype != np.float64:
        raise TypeError(f"x must have dtype float64 for finite differences, got dtype {x.dtype}")
    h = check_real(h, "h")
    if h <= 0:
        raise ValueError(f"h must be > 0, got {h}")
    dout_arr = np.asarray(dout, dtype=np.float64)

    def objective() -> float:
        value = np.asarray(f(x), dtype=np.float64)
        if value.shape != dout_arr.shape:
            raise ValueError(
                f"dout must have the shape of f(x), {value.shape}, got shape {dout_arr.shape}"
            )
        return float(np.sum(dout_arr * value))

    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        original = x[idx]
        try:
            x[idx] = original + h
            plus = objective()
            x[idx] = original - h
            minus = objective()
        finally:
            x[idx] = original
        grad[idx] = (plus - minus) / (2.0 * h)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """Maximum absolute difference relative to the scale of both arrays.

    Parameters
    ----------
    a, b : array_like
        Arrays of one shape (scalars allowed).

    Returns
    -------
    float
        ``max|a - b| / max(max(|a| + |b|), tiny)``, 0 when both are zero.

    Raises
    ------
    ValueError
        If the shapes differ.

    Notes
    -----
    Normalising by the largest magnitude in the whole array (not element
    by element) keeps tiny entries, where an absolute rounding error looks
    huge relatively, from dominating the result.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have one shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(a) + np.abs(b))), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(a - b)) / scale)


def check_gradient(
    f: Callable[[np.ndarray], np.ndarray | float],
    x: np.ndarray,
    dout: np.ndarray | float,
    analytic: np.ndarray,
    *,
    h: float = 1e-6,
    tol: float = 1e-6,
    name: str = "gradient",
) -> float:
    """Assert that an analytic gradient matches central differences.

    Parameters
    ----------
    f, x, dout, h
        As in :func:`numerical_gradient`.
    analytic : ndarray, shape ``x.shape``
        The gradient from a hand-written backward pass.
    tol : float
        Largest accepted :func:`relative_error`.
    name : str
        Used in the failure message (e.g. ``"dx"``).

    Returns
    -------
    float
        The relative error, so a tutorial can print it.

    Raises
    ------
    AssertionError
        If the relative error exceeds ``tol``.

    Examples
    --------
    >>> x = np.array([0.5, -1.0])
    >>> err = check_gradient(np.sin, x, np.ones(2), np.cos(x))
    >>> err < 1e-8
    True
    """
    analytic = np.asarray(analytic)
    if analytic.shape != x.shape:
        raise ValueError(
            f"analytic must have the shape of x, {x.shape}, got shape {analytic.shape}"
        )
    numeric = numerical_gradient(f, x, dout, h=h)
    err = relative_error(analytic, numeric)
    if not err <= tol:
        raise AssertionError(
            f"{name}: relative error {err:.3e} exceeds tol {tol:.1e} "
            f"(max |analytic - numeric| = {np.max(np.abs(analytic - numeric)):.3e})"
        )
    return err
