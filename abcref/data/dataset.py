"""The ``Dataset`` container and helpers shared by every loader."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from abcref._checks import FLOAT_DTYPES, check_int


class DataFormatError(ValueError):
    """A data file exists but is not what its name promises.

    Raised for a bad magic number, a truncated or oversized file, a label
    out of range, mismatched counts, or a pickled file abcref refuses to
    read. The message names the file and what was expected.
    """


@dataclass(frozen=True, repr=False)
class Dataset:
    """Images and integer labels, split into train and test.

    Attributes
    ----------
    name : str
        Short name, e.g. ``"digits"``, ``"mnist"``, ``"cifar10"``.
    x_train : ndarray, shape (N_train, C, H, W)
        Training images, float32 (or float64 if asked for) in [0, 1];
        NaN or Inf is refused.
    y_train : ndarray, shape (N_train,)
        Training labels, int64 in ``0 .. num_classes - 1``.
    x_test : ndarray, shape (N_test, C, H, W)
        Test images, same dtype and image shape as ``x_train``.
    y_test : ndarray, shape (N_test,)
        Test labels, int64.
    num_classes : int
        Number of classes the task defines (10 for every loader here),
        fixed even when a ``limit`` leaves some class out.
    source : str
        Where the arrays came from (a file or directory), for logs.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int = 10
    source: str = field(default="")

    def __post_init__(self):
        for split in ("train", "test"):
            x = getattr(self, f"x_{split}")
            y = getattr(self, f"y_{split}")
            if not isinstance(x, np.ndarray) or x.ndim != 4 or x.dtype not in FLOAT_DTYPES:
                raise TypeError(f"x_{split} must be a float32/float64 (N, C, H, W) array")
            if not np.isfinite(x).all():
                raise ValueError(f"x_{split} holds NaN or Inf; images must be finite")
            if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.shape != x.shape[:1]:
                raise TypeError(f"y_{split} must be an int64 array of shape ({x.shape[0]},)")
            if y.size and (y.min() < 0 or y.max() >= self.num_classes):
                raise ValueError(f"y_{split} must lie in 0..{self.num_classes - 1}")
        train, test = self.x_train, self.x_test
        if train.shape[1:] != test.shape[1:] or train.dtype != test.dtype:
            raise ValueError(
                f"x_train and x_test must share image shape and dtype, got "
                f"{self.x_train.shape[1:]} {self.x_train.dtype} and "
                f"{self.x_test.shape[1:]} {self.x_test.dtype}"
            )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(self.x_train.shape[1:])

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={len(self.y_train)}, test={len(self.y_test)}, "
            f"image_shape={self.image_shape}, num_classes={self.num_classes}, "
            f"dtype={self.x_train.dtype})"
        )


def check_limit(limit) -> int | None:
    """Validate ``limit``: None (everything) or an int >= 1."""
    if limit is None:
        return None
    return check_int(limit, "limit", min_value=1)


def to_unit_float(raw: np.ndarray, max_level: int, dtype: np.dtype) -> np.ndarray:
    """Integer grey levels ``0 .. max_level`` -> ``dtype`` in [0, 1].

    Division in the target dtype is correctly rounded, so ``k / max_level``
    is the nearest representable value to the exact quotient.
    """
    out = raw.astype(dtype)
    out /= dtype.type(max_level)
    return out
