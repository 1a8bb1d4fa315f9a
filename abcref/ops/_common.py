"""Small helpers shared by the ops modules (not public API)."""

from __future__ import annotations

import numpy as np

from abcref._checks import check_array, check_shape


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Number of window positions along one axis: ``(size + 2p - k) // s + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


def check_kernel_fits(hw: tuple[int, int], kernel: tuple[int, int], what: str) -> None:
    """Raise if a kernel does not fit in a (padded) input of spatial size ``hw``."""
    if kernel[0] > hw[0] or kernel[1] > hw[1]:
        raise ValueError(
            f"kernel {tuple(kernel)} is larger than the {what} {tuple(hw)}; "
            "expected kernel <= input size along each axis"
        )


def check_dout(dout, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """Validate an upstream gradient against the forward output it belongs to."""
    check_array(dout, "dout")
    if dout.dtype != dtype:
        raise TypeError(f"dout must have dtype {dtype} like the forward input, got {dout.dtype}")
    return check_shape(dout, "dout", shape)
