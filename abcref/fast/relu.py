"""ReLU by a bit mask: the fast twin of :func:`abcref.ops.relu_forward`.

``np.where(x > 0, x, 0)`` branches per element; clearing the bits of the
non-positive entries (``x & -(x > 0)`` on the float's bits) gives the
same array bit for bit (+0.0 for every non-positive entry, never -0.0)
several times faster. The backward is the reference's ``dout * mask``.
Arguments are trusted: ``x`` a finite float array.
"""

from __future__ import annotations

import numpy as np


def relu_forward(x):
    """``max(x, 0)`` with +0.0 for every ``x <= 0``; cache ``"mask"`` (x > 0) and ``"dtype"``."""
    mask = x > 0
    bits = np.negative(mask, dtype=np.uint32 if x.itemsize == 4 else np.uint64, casting="unsafe")
    bits &= x.view(bits.dtype)
    return bits.view(x.dtype), {"mask": mask, "dtype": x.dtype}
