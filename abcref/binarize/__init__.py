"""ABC-Net binarization, paper section 3 (eqs. 1-12): the reference tier.

- :mod:`abcref.binarize.weights`: M binary weight bases (eqs. 1-7).
- :mod:`abcref.binarize.activations`: N shifted binary activations
  (eqs. 8-11).
- :mod:`abcref.binarize.abcconv`: ApproxConv (eq. 6) and the M x N ABC
  convolution (eq. 12).

Each equation is a few lines with the paper's names. ``abcref.fast`` has
the same math arranged for speed. See ``docs/binarize.md`` for the math
and ``docs/conventions.md`` for the choices the paper leaves open.
"""

from abcref.binarize.abcconv import (
    abc_conv2d_backward,
    abc_conv2d_forward,
    approx_conv2d_backward,
    approx_conv2d_forward,
)
from abcref.binarize.activations import (
    H_v,
    activation_ste_mask,
    activation_thresholds,
    approximate_activations_backward,
    approximate_activations_forward,
    binarize_activations,
    binarize_activations_backward,
    binarize_activations_forward,
    default_activation_params,
    h_v,
)
from abcref.binarize.weights import (
    DEFAULT_RIDGE,
    WEIGHT_STE_READINGS,
    approximate_weights,
    approximate_weights_backward,
    approximate_weights_forward,
    combine_bases,
    fit_alphas,
    weight_bases,
    weight_shifts,
    weight_statistics,
    weight_ste_scale,
)

__all__ = [
    "DEFAULT_RIDGE",
    "WEIGHT_STE_READINGS",
    "H_v",
    "abc_conv2d_backward",
    "abc_conv2d_forward",
    "activation_ste_mask",
    "activation_thresholds",
    "approx_conv2d_backward",
    "approx_conv2d_forward",
    "approximate_activations_backward",
    "approximate_activations_forward",
    "approximate_weights",
    "approximate_weights_backward",
    "approximate_weights_forward",
    "binarize_activations",
    "binarize_activations_backward",
    "binarize_activations_forward",
    "combine_bases",
    "default_activation_params",
    "fit_alphas",
    "h_v",
    "weight_bases",
    "weight_shifts",
    "weight_statistics",
    "weight_ste_scale",
]
