"""Quantizers of the paper's comparison systems (ABC-Net Table 3).

BWN and XNOR-Net (Rastegari et al. 2016), BNN (Courbariaux et al. 2016),
DoReFa-Net (Zhou et al. 2016) and full precision, as pure
``*_forward(...) -> (out, cache)`` / ``*_backward(dout, cache)`` functions.
The stateful layers live in :mod:`abcref.nn.quantconv`; the published
definitions and every choice made are listed in docs/baselines.md.
"""

from abcref.quantize.activations import (
    dorefa_activations_backward,
    dorefa_activations_forward,
    identity_backward,
    identity_forward,
    quantize_k,
    sign_activations_backward,
    sign_activations_forward,
)
from abcref.quantize.conv import (
    ACTIVATION_QUANTIZERS,
    WEIGHT_QUANTIZERS,
    quantized_conv2d_backward,
    quantized_conv2d_forward,
)
from abcref.quantize.weights import (
    bwn_weights_backward,
    bwn_weights_forward,
    dorefa_weights_backward,
    dorefa_weights_forward,
    sign_weights_backward,
    sign_weights_forward,
)
from abcref.quantize.xnornet import (
    xnornet_conv2d_backward,
    xnornet_conv2d_forward,
    xnornet_conv2d_naive,
    xnornet_input_scale_backward,
    xnornet_input_scale_forward,
    xnornet_input_scale_naive,
)

__all__ = [
    "ACTIVATION_QUANTIZERS",
    "WEIGHT_QUANTIZERS",
    "quantized_conv2d_backward",
    "quantized_conv2d_forward",
    "xnornet_conv2d_backward",
    "xnornet_conv2d_forward",
    "xnornet_conv2d_naive",
    "xnornet_input_scale_backward",
    "xnornet_input_scale_forward",
    "xnornet_input_scale_naive",
    "bwn_weights_backward",
    "bwn_weights_forward",
    "dorefa_activations_backward",
    "dorefa_activations_forward",
    "dorefa_weights_backward",
    "dorefa_weights_forward",
    "identity_backward",
    "identity_forward",
    "quantize_k",
    "sign_activations_backward",
    "sign_activations_forward",
    "sign_weights_backward",
    "sign_weights_forward",
]
