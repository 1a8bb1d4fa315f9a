"""The compiled ResNet-18/34/50 predict exactly what their float models predict.

Small widths, random BN statistics (every BN's scale, shift, mean and
variance drawn at random), eval mode. Three things are checked, each
exactly or against a bound derived here rather than a tolerance picked by
hand:

1. every batch norm that reads into a binary ABC conv is folded
   (:func:`abcref.compiler.fold_plan`), inside residual blocks too, and a
   ``binary_shortcut`` block's ``bn1`` into both of its readers;
2. at every ABC conv the compiled comparators give exactly the float
   model's binary activations (bit for bit, on the real inputs);
3. the logits differ by at most the bound below, and the predictions are
   identical.

The bound on the logits
-----------------------
The two models run the same float layers (stem, max-pool, projection
shortcuts, the BNs not folded, ``bn_final``, global pool, classifier) and
differ only in how a binary ABC conv turns its binary activations into
numbers. Both approximate the exact value of eq. (12),
``S = sum_mn alpha_m beta_n P_mn`` with the integer ``P_mn = Conv(B_m, A_n)``:

- the float model computes ``Conv(W~, R~)`` with ``W~ = sum_m alpha_m B_m``
  (M - 1 roundings of exact products), ``R~ = sum_n beta_n A_n`` (N - 1)
  and a K-term dot product (``K = C kh kw``). With u the unit roundoff of
  the dtype and ``gamma_n = n u / (1 - n u)`` (Higham, *Accuracy and
  Stability of Numerical Algorithms*, §3.1), and ``a1 = max_o sum_m
  |alpha_om|``, ``b1 = sum_n |beta_n|`` (so ``sum_k |W~_k R~_k| <= K a1
  b1``): ``|float - S| <= gamma_{K+M+N} K a1 b1``;
- the compiled layer multiplies ``alpha_m beta_n`` exactly in float64,
  rounds each product with P and the M N - 1 additions in float64, then
  rounds once to the dtype: ``|compiled - S| <= (u + gamma64_{MN+1}) K
  a1 b1``.

So with identical bits (point 2) one ABC conv's outputs differ by at most
``delta = (gamma_{K+M+N} + u + gamma64_{MN+1}) K a1 b1``, whatever the
error of its input. In a pre-activation block every conv of the residual
path binarises its input, so the path's error is its last conv's delta;
only the residual stream carries errors from block to block. Through a
float layer an input error ``e`` becomes ``L e`` plus twice the layer's
own rounding (each model rounds once):

- residual sum: ``(e_main + e_short)(1 + u) + 2 u max|out|``;
- batch norm (``x - mean``, times ``1/std``, times gamma, plus beta: 4
  roundings): ``|a| (1 + gamma_3) e + 2 gamma_4 max(|a (x - mean)| + |beta|)``
  with ``a = gamma / std``, largest over channels;
- 1x1 projection conv: ``max_o sum_c |W_oc| (1 + gamma_C) e + 2 gamma_C
  max(|W| * |x|)``;
- global average pool: ``(1 + gamma_HW) e + 2 gamma_{HW+1} max|x|``;
- classifier: ``max_j sum_i |W_ji| (1 + gamma_C) e + 2 gamma_{C+1}
  max_j (sum_i |W_ji x_i| + |b_j|)``.

The magnitudes come from the float model's own intermediate values; the
compiled model's are within ``e`` of them, a second-order change that the
final factor 1.01 covers.

The bound is a worst case (every rounding in the same direction, the
largest row sums as gains), so it sits far above the measured difference:
on the ResNet-18 case below (width 8, 8 images) the logits differ by
3.8e-6 in float32 against a bound of 6.0, and by 7e-15 in float64 against
1.2e-8. In float64 the bound is below half of every example's margin
between its top two logits (0.94 at the smallest), so there it proves the
predictions equal on its own; in float32 the identical predictions are
checked directly.
"""

import numpy as np
import pytest

from abcref.binarize import binarize_activations
from abcref.compiler import BitABCConv2d, compile_model, fold_plan
from abcref.fast import conv as fast_conv
from abcref.nn import ABCConv2d, BatchNorm2d, build_model
from abcref.nn.resnet import ResidualBlock

U64 = np.finfo(np.float64).eps / 2


def _gamma(n, u):
    return n * u / (1 - n * u)


def _randomise_batchnorms(model, rng):
    """Random running statistics and affine parameters (negative scales included)."""
    for _, mod in model.named_modules():
        if isinstance(mod, BatchNorm2d):
            c, dt = mod.params["weight"].shape[0], mod.params["weight"].dtype
            mod.params["weight"][...] = rng.normal(1.0, 0.5, c) * rng.choice([-1, 1, 1, 1], c)
            mod.params["bias"][...] = rng.normal(0.0, 0.3, c)
            mod.buffers["running_mean"] = rng.normal(0.0, 0.3, c).astype(dt)
            mod.buffers["running_var"] = rng.uniform(0.5, 2.0, c).astype(dt)


# -- the error bound of the module docstring ------------------------------------------


def _abc_delta(layer: ABCConv2d, u) -> float:
    """Largest difference between one ABC conv's float and compiled outputs (same bits)."""
    _, alphas = layer.weight_bases()
    a1 = float(np.abs(np.atleast_2d(alphas)).sum(axis=1).max())
    b1 = float(np.abs(layer.params["beta"]).sum())
    m, n = layer.M, layer.N
    k = layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1]
    return (_gamma(k + m + n, u) + u + _gamma(m * n + 1, U64)) * k * a1 * b1


def _bn_scale(bn: BatchNorm2d):
    p, b = bn.params, bn.buffers
    a = p["weight"].astype(np.float64) / np.sqrt(b["running_var"].astype(np.float64) + bn.eps)
    return a, b["running_mean"].astype(np.float64), p["bias"].astype(np.float64)


def _bn_error(bn: BatchNorm2d, x, e, u) -> float:
    a, mean, beta = _bn_scale(bn)
    rounding = np.abs(a[:, None, None] * (x - mean[:, None, None])) + np.abs(beta)[:, None, None]
    return float(np.abs(a).max() * (1 + _gamma(3, u)) * e + 2 * _gamma(4, u) * rounding.max())


def _projection_error(shortcut, x_tap, e_tap, u) -> tuple[float, np.ndarray]:
    """Error after a projection shortcut (its output too, for the next layer's magnitudes)."""
    conv, bn = shortcut.conv, shortcut.bn
    if isinstance(conv, ABCConv2d):
        conv_out = conv.forward(x_tap)
        e_conv = _abc_delta(conv, u)  # bits checked identical: its input error is gone
    else:
        w = conv.params["weight"]
        conv_out = conv.forward(x_tap)
        c = w.shape[1]
        magnitude, _ = fast_conv.conv2d_forward(np.abs(x_tap), np.abs(w), stride=conv.stride)
        lipschitz = float(np.abs(w).sum(axis=(1, 2, 3)).max())
        e_conv = lipschitz * (1 + _gamma(c, u)) * e_tap + 2 * _gamma(c, u) * magnitude.max()
    return _bn_error(bn, conv_out, e_conv, u), bn.forward(conv_out)


def logit_error_bound(model, x) -> float:
    """The module docstring's bound on |float logits - compiled logits| (same bits)."""
    u = np.finfo(x.dtype).eps / 2
    h = model.pool1.forward(model.conv1.forward(x))  # same input, same code: error 0
    e = 0.0
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        for block in getattr(model, stage):
            last_conv = block._modules[block._main[-1]]
            assert isinstance(last_conv, ABCConv2d)
            out = block.forward(h)  # the float model's own values
            if "shortcut" in block.children():
                x_tap = h
                for name in block._main[: block._tap]:  # what the projection reads
                    x_tap = block._modules[name].forward(x_tap)
                e_short, _ = _projection_error(block.shortcut, x_tap, e, u)
            else:
                e_short = e
            e = (_abc_delta(last_conv, u) + e_short) * (1 + u) + 2 * u * float(np.abs(out).max())
            h = out
    e = _bn_error(model.bn_final, h, e, u)
    h = model.bn_final.forward(h)
    hw = h.shape[2] * h.shape[3]
    e = (1 + _gamma(hw, u)) * e + 2 * _gamma(hw + 1, u) * float(np.abs(h).max())
    pooled = model.gap.forward(h)
    w, b = model.fc.params["weight"], model.fc.params["bias"]
    c = w.shape[1]
    magnitude = (np.abs(pooled) @ np.abs(w).T + np.abs(b)).max()
    e = float(np.abs(w).sum(axis=1).max()) * (1 + _gamma(c, u)) * e
    e += 2 * _gamma(c + 1, u) * float(magnitude)
    return 1.01 * e


# -- recording the binary activations of both models -------------------------------------


def _binary_activations(model, x) -> dict:
    """``{layer name: bits}`` of every ABC / BitABC conv's binary activations on ``x``."""
    bits = {}
    layers = [
        (name, mod)
        for name, mod in model.named_modules()
        if isinstance(mod, ABCConv2d | BitABCConv2d)
    ]

    def recorder(name, mod):
        forward = mod.forward

        def wrapped(inp):
            if isinstance(mod, BitABCConv2d):
                bits[name] = mod.compiled.comparator.bits(inp)
            else:
                bits[name] = binarize_activations(inp, mod.params["v"]) > 0
            return forward(inp)

        return wrapped

    try:
        for name, mod in layers:
            mod.forward = recorder(name, mod)
        logits = model.forward(x)
    finally:
        for _, mod in layers:
            del mod.forward
    return bits, logits


@pytest.mark.parametrize(
    ("arch", "width", "binary_shortcut", "dtype"),
    [
        ("resnet18", 8, False, "float32"),
        ("resnet18", 4, True, "float32"),
        ("resnet34", 4, False, "float32"),
        ("resnet50", 4, False, "float32"),
        ("resnet50", 2, True, "float32"),
        ("resnet18", 8, False, "float64"),
        ("resnet34", 4, True, "float64"),
        ("resnet50", 4, False, "float64"),
    ],
)
def test_compiled_resnet_predicts_exactly_what_the_float_model_predicts(
    arch, width, binary_shortcut, dtype
):
    model = build_model(
        {
            "arch": arch,
            "conv": {"kind": "abc", "M": 3, "N": 3},
            "width": width,
            "num_classes": 10,
            "binary_shortcut": binary_shortcut,
            "dtype": dtype,
            "seed": 1,
        }
    )
    _randomise_batchnorms(model, np.random.default_rng(5))
    model.eval()
    compiled = compile_model(model)

    # 1. Every BN in front of a binary conv is folded: inside the blocks too.
    plan = fold_plan(model)
    abc = {name for name, m in model.named_modules() if isinstance(m, ABCConv2d)}
    blocks = [m for _, m in model.named_modules() if isinstance(m, ResidualBlock)]
    assert {t for targets in plan.values() for t in targets} == abc
    assert len(plan) == sum(len(b._main) // 2 for b in blocks)  # every bn_i of every block
    shared = [bn for bn, targets in plan.items() if len(targets) == 2]
    projections = sum("shortcut" in b.children() for b in blocks)
    assert len(shared) == (projections if binary_shortcut else 0)  # their bn1
    kinds = {name: type(m).__name__ for name, m in compiled.named_modules()}
    assert all(kinds[t] == "BitABCConv2d" for t in abc)
    assert all(kinds[bn] == "FoldedBatchNorm" for bn in plan)  # no longer computed
    assert kinds["bn_final"] == "BatchNorm2d"  # the classifier reads it in float

    # 2. The comparators give exactly the float model's binary activations.
    x = np.random.default_rng(6).standard_normal((8, 3, 32, 32)).astype(dtype)
    float_bits, float_logits = _binary_activations(model, x)
    packed_bits, packed_logits = _binary_activations(compiled, x)
    assert set(float_bits) == set(packed_bits) == abc
    for name in abc:
        np.testing.assert_array_equal(packed_bits[name], float_bits[name], err_msg=name)

    # 3. Identical predictions; logits within the derived bound.
    np.testing.assert_array_equal(packed_logits.argmax(axis=1), float_logits.argmax(axis=1))
    bound = logit_error_bound(model, x)
    diff = float(np.abs(packed_logits - float_logits).max())
    assert diff <= bound, f"max |logit difference| {diff:.3e} > bound {bound:.3e}"
    if dtype == "float64":
        # Here the bound alone proves the predictions equal: it is below half of
        # every example's margin between its top two logits.
        top2 = np.sort(float_logits, axis=1)[:, -2:]
        margin = float((top2[:, 1] - top2[:, 0]).min())
        assert bound < margin / 2, f"bound {bound:.3e} vs smallest top-1 margin {margin:.3e}"
