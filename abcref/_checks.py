"""Argument validation shared by every public function.

Every error names the argument, the value it got and what was expected,
so that a wrong call fails loudly instead of returning a wrong number.
"""

from __future__ import annotations

import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _describe(x) -> str:
    """Short description of a value for error messages."""
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape} and dtype {x.dtype}"
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def check_array(
    x,
    name: str,
    *,
    ndim: int | None = None,
    floating: bool = True,
    finite: bool = True,
) -> np.ndarray:
    """Validate that ``x`` is an ndarray and return it unchanged.

    Parameters
    ----------
    x : object
        The value to check.
    name : str
        Argument name used in error messages.
    ndim : int, optional
        Required number of dimensions.
    floating : bool
        Require dtype float32 or float64 (dtypes are never silently cast).
    finite : bool
        Reject NaN and Inf (only checked for floating arrays).

    Raises
    ------
    TypeError
        If ``x`` is not an ndarray or has the wrong dtype.
    ValueError
        If ``x`` has the wrong ndim or holds non-finite values.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if floating and x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64, got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {x.shape}")
    if finite and x.dtype.kind == "f" and not np.isfinite(x).all():
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise ValueError(f"{name} must be finite, got {bad} NaN or Inf value(s)")
    return x


def check_same_dtype(**arrays: np.ndarray) -> np.dtype:
    """Require every given array to share one dtype; return it.

    abcref never mixes float32 and float64 silently: the caller decides.
    """
    dtypes = {name: a.dtype for name, a in arrays.items() if a is not None}
    if len(set(dtypes.values())) > 1:
        listing = ", ".join(f"{n}: {d}" for n, d in dtypes.items())
        raise TypeError(f"arrays must share one dtype, got {listing}")
    return next(iter(dtypes.values()))


def check_int(value, name: str, *, min_value: int | None = None) -> int:
    """Validate an integer argument (bool and float are rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_describe(value)}")
    value = int(value)
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {value}")
    return value


def check_pair(value, name: str, *, min_value: int | None = None) -> tuple[int, int]:
    """Validate an int or a pair of ints (height, width) and return the pair."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {_describe(value)}")
        return (
            check_int(value[0], f"{name}[0]", min_value=min_value),
            check_int(value[1], f"{name}[1]", min_value=min_value),
        )
    v = check_int(value, name, min_value=min_value)
    return (v, v)


def check_real(value, name: str, *, finite: bool = True) -> float:
    """Validate a real scalar (bool rejected) and return it as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    value = float(value)
    if finite and not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_shape(x: np.ndarray, name: str, shape: tuple) -> np.ndarray:
    """Require ``x.shape == shape``."""
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got shape {x.shape}")
    return x


def check_choice(value, name: str, choices) -> str:
    """Require ``value`` to be one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value
