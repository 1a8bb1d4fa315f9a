"""Argument validation shared by every public function.

Every error names the argument, the value it got and what was expected,
so that a wrong call fails loudly instead of returning a wrong number.
"""

from __future__ import annotations

import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class NonFiniteError(ValueError):
    """An array holds NaN or Inf: raised by :func:`check_array`.

    A ``ValueError``, so callers that catch bad input catch it too; its own
    class lets the trainer tell numbers that blew up inside a model from
    other bad input without reading the message.
    """


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
        raise NonFiniteError(f"{name} must be finite, got {bad} NaN or Inf value(s)")
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


def check_bool(value, name: str) -> bool:
    """Require a real bool (a truthy string such as "no" would silently count as True)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {_describe(value)}")
    return bool(value)


def check_float_dtype(dtype, name: str = "dtype") -> np.dtype:
    """Resolve ``dtype`` to float32 or float64 (an integer dtype would truncate).

    ``None`` is an error too: NumPy would read it as float64.
    """
    resolved = None
    if dtype is not None:
        try:
            resolved = np.dtype(dtype)
        except TypeError:
            pass
    if resolved is None or resolved not in FLOAT_DTYPES:  # np.dtype(x) == None compares to float64
        shown = resolved.name if resolved is not None else repr(dtype)
        raise TypeError(f"{name} must be float32 or float64, got {shown}")
    return resolved


def check_rng(rng, name: str = "rng") -> np.random.Generator:
    """A ``numpy.random.Generator``; None gives ``default_rng(0)`` (deterministic)."""
    if rng is None:
        return np.random.default_rng(0)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{name} must be a numpy.random.Generator or None, got {type(rng).__name__}"
        )
    return rng


def check_signs(x, name: str) -> np.ndarray:
    """Require a real ndarray whose values are exactly +1 or -1.

    Float and integer dtypes are accepted (a sign array is often int8);
    bool and complex are not, because their "sign" is ambiguous. NaN,
    0, 0.5 or any other value is a ``ValueError`` naming the first one.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype.kind not in "fiu":
        raise TypeError(
            f"{name} must have a float or integer dtype holding +1/-1, got dtype {x.dtype}"
        )
    is_sign = np.abs(x) == 1  # NaN compares False; int8 abs(-128) is -128, also False
    if not is_sign.all():
        bad = np.flatnonzero(~is_sign.ravel())
        raise ValueError(
            f"{name} must hold only +1 and -1, got {bad.size} other value(s), "
            f"e.g. {x.ravel()[bad[0]]!r} at flat index {bad[0]}"
        )
    return x


def check_dout(
    dout, shape: tuple, dtype: np.dtype, name: str = "dout", like: str = "the forward input"
) -> np.ndarray:
    """An upstream gradient: exactly the forward output's shape and dtype, finite.

    No broadcasting: a broadcastable shape would silently give a gradient
    of the right shape computed from the wrong input. ``like`` names what
    the dtype must match, for the message.
    """
    check_array(dout, name)
    if dout.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype} like {like}, got {dout.dtype}")
    return check_shape(dout, name, shape)


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Window positions along one axis: ``(size + 2 * padding - kernel) // stride + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


def check_kernel_fits(hw, kernel, what: str) -> None:
    """Raise if a ``kernel`` (kh, kw) is larger than an input of spatial size ``hw``."""
    if kernel[0] > hw[0] or kernel[1] > hw[1]:
        raise ValueError(
            f"kernel {tuple(kernel)} is larger than the {what} {tuple(hw)}; "
            "expected kernel <= input size along each axis"
        )


def check_conv_args(
    x,
    w,
    b=None,
    *,
    stride=1,
    padding=0,
    pad_value=0.0,
    names=("x", "w", "b"),
    signs: bool = False,
):
    """The one argument check of every 2-D convolution (NCHW input, OIHW filters).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (O, C, kh, kw)
    b : ndarray, shape (O,), optional
        Bias.
    stride, padding : int or (int, int)
        ``>= 1`` and ``>= 0``.
    pad_value : float
        Finite value of the border; with ``signs`` it must be 0, +1 or -1.
    names : (str, str, str)
        How the three arrays are called in error messages.
    signs : bool
        ``x`` and ``w`` hold exactly +1/-1 in any real dtype (the
        bit-packed convolution) instead of finite floats of one dtype.

    Returns
    -------
    stride, padding : (int, int)
    pad_value : float
    out_hw : (int, int)
        ``((H + 2 ph - kh) // sh + 1, (W + 2 pw - kw) // sw + 1)``.
    """
    x_name, w_name, b_name = names
    check = check_signs if signs else check_array
    for name, a in ((x_name, x), (w_name, w)):
        check(a, name)
        if a.ndim != 4:
            layout = "(N, C, H, W)" if a is x else "(O, C, kh, kw)"
            raise ValueError(
                f"{name} must be 4-dimensional, got shape {a.shape}; expected {layout}"
            )
    if b is not None:
        check_array(b, b_name, ndim=1)
    if not signs:
        check_same_dtype(**{x_name: x, w_name: w, b_name: b})
    if 0 in w.shape:  # an empty kernel or filter bank has no convolution to compute
        raise ValueError(
            f"{w_name} must have at least one filter, input channel and kernel row and "
            f"column (OIHW), got shape {w.shape}"
        )
    if w.shape[1] != x.shape[1]:
        raise ValueError(
            f"{w_name} has {w.shape[1]} input channels ({w_name}.shape={w.shape}) but "
            f"{x_name} has {x.shape[1]} channels ({x_name}.shape={x.shape}); expected them equal"
        )
    if b is not None:
        check_shape(b, b_name, (w.shape[0],))
    stride = check_pair(stride, "stride", min_value=1)
    padding = check_pair(padding, "padding", min_value=0)
    pad_value = check_real(pad_value, "pad_value")
    if signs and pad_value not in (0.0, 1.0, -1.0):
        raise ValueError(f"pad_value must be 0, +1 or -1, got {pad_value:g}")
    padded = (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
    check_kernel_fits(padded, w.shape[2:], "padded input")
    out_hw = tuple(
        output_size(x.shape[2 + i], w.shape[2 + i], stride[i], padding[i]) for i in range(2)
    )
    return stride, padding, pad_value, out_hw
