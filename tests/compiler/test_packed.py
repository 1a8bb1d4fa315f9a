"""Tests of abcref.compiler.packed: the packed ABC layer (eq. 12 with bits).

Layers built by ``compile_layer`` from random ABCConv2d: their M x N integer
convolutions equal float convolutions of the same bases and activations
exactly, and their output is ``abc_conv2d_forward`` to float rounding;
``pack_abc_conv``'s argument checks.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abcref.binarize import abc_conv2d_forward, binarize_activations
from abcref.compiler import compile_layer, pack_abc_conv
from tests._bitpack_helpers import float_conv2d
from tests.compiler._helpers import random_abc_layer


@st.composite
def layer_configs(draw):
    return {
        "c_in": draw(st.sampled_from([1, 3, 8, 65])),
        "c_out": draw(st.integers(1, 6)),
        "k": draw(st.sampled_from([1, 2, 3, (3, 2)])),
        "M": draw(st.integers(1, 4)),
        "N": draw(st.integers(1, 4)),
        "stride": draw(st.sampled_from([1, 2, (2, 1)])),
        "padding": draw(st.sampled_from([0, 1, 2, (1, 0)])),
        "pad_value": draw(st.sampled_from([0.0, 1.0, -1.0])),
        "per_channel": draw(st.booleans()),
        "dtype": draw(st.sampled_from([np.float32, np.float64])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


@settings(max_examples=30, deadline=None, derandomize=True)
@given(cfg=layer_configs())
def test_compiled_layer_matches_abc_conv2d_forward(cfg):
    rng = np.random.default_rng(cfg.pop("seed"))
    layer = random_abc_layer(rng, **cfg)
    x = rng.normal(size=(2, cfg["c_in"], 6, 5)).astype(cfg["dtype"])
    compiled = compile_layer(layer)

    # Integer accumulations: exactly the float convolutions of the same B_m, A_n.
    dots = compiled.integer_convolutions(x)
    bases, _ = layer.weight_bases()
    acts = binarize_activations(x, layer.params["v"])
    for m in range(cfg["M"]):
        for n in range(cfg["N"]):
            expected = float_conv2d(
                acts[n],
                bases[m],
                stride=layer.stride,
                padding=layer.padding,
                pad_value=cfg["pad_value"],
            )
            np.testing.assert_array_equal(dots[m, n], expected)

    # Layer output: eq. (12) to float rounding.
    out = compiled(x)
    expected, _ = abc_conv2d_forward(
        x,
        layer.params["weight"],
        layer.params["v"],
        layer.params["beta"],
        M=cfg["M"],
        stride=layer.stride,
        padding=layer.padding,
        per_channel=cfg["per_channel"],
        pad_value=cfg["pad_value"],
    )
    assert out.dtype == x.dtype and out.shape == expected.shape
    rtol = 1e-5 if cfg["dtype"] == np.float32 else 1e-12
    scale = np.abs(expected).max() + 1.0
    np.testing.assert_allclose(out, expected, rtol=0, atol=rtol * scale)


def test_pack_errors():
    rng = np.random.default_rng(0)
    bases = np.ones((2, 3, 4, 3, 3))
    alphas, v, beta = np.ones(2), np.zeros(2), np.ones(2)
    with pytest.raises(ValueError, match=r"alphas must have shape \(2,\) or \(3, 2\)"):
        pack_abc_conv(bases, np.ones(3), v, beta)
    with pytest.raises(ValueError, match=r"betas must have shape \(2,\)"):
        pack_abc_conv(bases, alphas, v, np.ones(3))
    with pytest.raises(ValueError, match=r"bases must hold only \+1 and -1"):
        pack_abc_conv(bases * 0, alphas, v, beta)
    with pytest.raises(ValueError, match=r"bases must have shape \(M, O, C, kh, kw\)"):
        pack_abc_conv(bases[0], alphas, v, beta)
    compiled = pack_abc_conv(bases, alphas, v, beta)
    with pytest.raises(ValueError, match="x has 5 channels, the layer expects 4"):
        compiled(rng.normal(size=(1, 5, 4, 4)))
    with pytest.raises(TypeError, match="arrays must share one dtype"):
        compiled(rng.normal(size=(1, 4, 4, 4)).astype(np.float32))
    with pytest.raises(TypeError, match="arrays must share one dtype"):
        pack_abc_conv(bases, alphas.astype(np.float32), v, beta)
