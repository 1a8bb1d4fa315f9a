"""Pure math of the network layers, the reference tier.

``*_forward(...) -> (out, cache)`` and ``*_backward(dout, cache) ->
gradients``, written to be read; NCHW activations, OIHW convolution
weights (as PyTorch); float32 and float64 are preserved and never mixed.
Every public function checks its arguments. See ``docs/ops.md``.
"""

from abcref.ops.activation import clip_backward, clip_forward, relu_backward, relu_forward
from abcref.ops.conv import conv2d_backward, conv2d_forward, conv2d_naive
from abcref.ops.linear import linear_backward, linear_forward
from abcref.ops.loss import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from abcref.ops.norm import batchnorm2d_backward, batchnorm2d_forward
from abcref.ops.pool import (
    avgpool2d_backward,
    avgpool2d_forward,
    avgpool2d_naive,
    global_avgpool_backward,
    global_avgpool_forward,
    maxpool2d_backward,
    maxpool2d_forward,
    maxpool2d_naive,
)
from abcref.ops.residual import residual_add_backward, residual_add_forward
from abcref.ops.sign import binary_sign

__all__ = [
    "avgpool2d_backward",
    "avgpool2d_forward",
    "avgpool2d_naive",
    "batchnorm2d_backward",
    "batchnorm2d_forward",
    "binary_sign",
    "clip_backward",
    "clip_forward",
    "conv2d_backward",
    "conv2d_forward",
    "conv2d_naive",
    "global_avgpool_backward",
    "global_avgpool_forward",
    "linear_backward",
    "linear_forward",
    "maxpool2d_backward",
    "maxpool2d_forward",
    "maxpool2d_naive",
    "relu_backward",
    "relu_forward",
    "residual_add_backward",
    "residual_add_forward",
    "softmax_cross_entropy_backward",
    "softmax_cross_entropy_forward",
]
