import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abcref.binarize import abc_conv2d_forward, binarize_activations
from abcref.bitpack.thresholds import fold_batchnorm_into_thresholds
from abcref.compiler import batchnorm_affine, compile_layer, pack_abc_conv
from abcref.nn.abcconv import ABCConv2d
from abcref.nn.layers import BatchNorm2d
from tests._bitpack_helpers import float_conv2d


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


def _values_around(thresholds, dtype, steps=3):
    """Each finite threshold and its `steps` float neighbours on both sides, per channel."""
    t = np.where(np.isfinite(thresholds), thresholds, 0).astype(dtype)
    out = [t]
    up, down = t, t
    for _ in range(steps):
        up = np.nextafter(up, dtype(np.inf))
        down = np.nextafter(down, dtype(-np.inf))
        out += [up, down]
    return np.concatenate(out, axis=0)  # (values, C)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sign", ["positive", "negative", "zero", "mixed"])
def test_fold_batchnorm_matches_reference_predicate_exactly(dtype, sign):
    rng = np.random.default_rng({"positive": 0, "negative": 1, "zero": 2, "mixed": 3}[sign])
    channels, n_act = 40, 3
    a = rng.uniform(0.05, 3.0, channels) * rng.choice([1e-3, 1.0, 1e3], channels)
    a = {
        "positive": a,
        "negative": -a,
        "zero": 0 * a,
        "mixed": a * rng.choice([-1, 0, 1], channels),
    }[sign].astype(dtype)
    b = rng.normal(size=channels).astype(dtype)
    v = rng.normal(size=n_act).astype(dtype)
    comparator = fold_batchnorm_into_thresholds(a, b, v)
    np.testing.assert_array_equal(comparator.direction, np.sign(a).astype(np.int8))
    t = 0.5 - v
    probe = np.concatenate(
        [
            _values_around(comparator.thresholds.reshape(-1, channels), dtype),
            rng.normal(scale=5.0, size=(50, channels)).astype(dtype),
            ((t[:, None] - b[None]) / np.where(a == 0, 1, a)[None]).astype(dtype),  # paper's R*
        ]
    )
    x = probe[:, :, None, None]  # (batch, C, 1, 1)
    bits = comparator.bits(x)
    reference = np.stack(
        [a[None, :, None, None] * x + b[None, :, None, None] >= t[n] for n in range(n_act)]
    )
    np.testing.assert_array_equal(bits, reference)
    if sign == "zero":  # constant output: +1 iff b >= 0.5 - v
        np.testing.assert_array_equal(bits[:, 0, :, 0, 0], b[None, :] >= t[:, None])


def test_fold_flips_comparison_for_negative_scale():
    a, b, v = np.array([-2.0]), np.array([0.0]), np.array([0.5])  # H = +1 iff -2R >= 0
    comparator = fold_batchnorm_into_thresholds(a, b, v)
    x = np.array([-1.0, 0.0, 1e-300, 1.0]).reshape(4, 1, 1, 1)
    np.testing.assert_array_equal(comparator.bits(x)[0, :, 0, 0, 0], [True, True, False, False])


def test_exact_threshold_differs_from_rounded_quotient_somewhere():
    # Why the bisection: the paper's quotient, rounded, misclassifies some ties.
    rng = np.random.default_rng(5)
    a = rng.uniform(0.1, 10, 2000).astype(np.float32)
    b = rng.normal(size=2000).astype(np.float32)
    v = np.array([0.1], dtype=np.float32)
    t = np.float32(0.5) - v
    quotient = ((t - b) / a).astype(np.float32)
    exact = fold_batchnorm_into_thresholds(a, b, v).thresholds[0]
    assert np.any(quotient != exact)
    at_quotient = a * quotient + b >= t  # the float model's answer at R = quotient
    np.testing.assert_array_equal(quotient >= exact, at_quotient)


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
    edges = _values_around(compiled.comparator.thresholds, dtype)  # (values, C)
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
        fold_batchnorm_into_thresholds(np.ones(2, dtype=int), np.ones(2), np.ones(1))
    with pytest.raises(TypeError, match="arrays must share one dtype"):
        fold_batchnorm_into_thresholds(np.ones(2), np.ones(2, np.float32), np.ones(1))
