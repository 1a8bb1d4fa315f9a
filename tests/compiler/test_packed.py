import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abcref.binarize import abc_conv2d_forward, binarize_activations
from abcref.bitpack.thresholds import fold_batchnorm_exact
from abcref.compiler import batchnorm_affine, compile_layer, pack_abc_conv
from abcref.nn.abcconv import ABCConv2d
from abcref.nn.layers import BatchNorm2d
from tests._bitpack_helpers import float_conv2d, values_around


def _random_layer(rng, *, c_in, c_out, k, M, N, stride, padding, pad_value, per_channel, dtype):
    layer = ABCConv2d(
        c_in,
        c_out,
        k,
        M=M,
        N=N,
        stride=stride,
        padding=padding,
        per_channel=per_channel,
        pad_value=pad_value,
        rng=rng,
        dtype=dtype,
    )
    layer.params["v"][...] = rng.normal(0.0, 0.7, size=N)
    layer.params["beta"][...] = rng.normal(0.5, 0.5, size=N)  # beta may turn negative
    return layer.eval()


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
    layer = _random_layer(rng, **cfg)
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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("gamma_sign", [1.0, -1.0, 0.0])
def test_compiled_layer_with_folded_batchnorm_matches_float_graph(gamma_sign, dtype):
    rng = np.random.default_rng(7)
    c_in = 5
    bn = BatchNorm2d(c_in, dtype=dtype)
    bn.params["weight"][...] = gamma_sign * rng.uniform(0.5, 2.0, c_in)
    bn.params["weight"][0] = 0.0
    bn.params["bias"][...] = rng.normal(size=c_in)
    bn.buffers["running_mean"] = rng.normal(size=c_in).astype(dtype)
    bn.buffers["running_var"] = rng.uniform(0.5, 2.0, c_in).astype(dtype)
    bn.eval()
    layer = _random_layer(
        rng,
        c_in=c_in,
        c_out=4,
        k=3,
        M=3,
        N=3,
        stride=1,
        padding=1,
        pad_value=0.0,
        per_channel=False,
        dtype=dtype,
    )
    x = rng.normal(size=(3, c_in, 7, 7)).astype(dtype)
    compiled = compile_layer(layer, batchnorm=bn)
    y = bn.forward(x)
    expected = layer.forward(y)
    atol = (1e-5 if dtype == np.float32 else 1e-12) * np.abs(expected).max()
    np.testing.assert_allclose(compiled(x), expected, rtol=0, atol=atol)
    a, b, _ = batchnorm_affine(bn)
    np.testing.assert_array_equal(compiled.comparator.direction, np.sign(a).astype(np.int8))
    # Bits identical to binarising the float BN output, also at and next to every threshold.
    edges = values_around(compiled.comparator.thresholds, dtype)  # (values, C)
    for probe in (x, edges[:, :, None, None]):
        np.testing.assert_array_equal(
            compiled.comparator.bits(probe),
            binarize_activations(bn.forward(probe), layer.params["v"]) > 0,
        )


def test_compile_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="full-precision activations"):
        compile_layer(ABCConv2d(2, 2, 3, M=2, N=None))
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
    with pytest.raises(TypeError, match="a must have dtype float32 or float64"):
        fold_batchnorm_exact(np.ones(2, dtype=int), np.ones(2), np.ones(1))
    with pytest.raises(TypeError, match="arrays must share one dtype"):
        fold_batchnorm_exact(np.ones(2), np.ones(2, np.float32), np.ones(1))
