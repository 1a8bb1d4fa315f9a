# %% [markdown]
# # 6. Inference with bits: compile a trained model
#
# At test time ABC-Net needs neither the latent weights nor batch norm as a separate step: the bases are fixed ±1
# tensors (packed once), every binariser is a comparator, and a batch norm that feeds a binariser can be **folded into
# its threshold** (§5.3). `abcref.compiler.compile_model` does all of that to a trained model and returns an
# inference-only copy whose ABC layers run on xnor and popcount. This notebook compiles a trained digits model and
# checks that it makes **the same predictions on every test image**.
#
# **Contents.** 1. Train and compile · 2. Identical predictions · 3. Batch norm folded into thresholds, including
# $a < 0$ and $a = 0$ · 4. Why the thresholds are found by bisection · 5. The model summary.
#
# **Exercises.** You write eq. 12's final combination (section 2) and fold a batch norm into a threshold for any sign of
# its scale (section 3). A checker cell follows each and says at once whether your function is right; until you fill it
# in it reports "not attempted yet", so the notebook runs top to bottom either way. Worked solutions are in
# `tutorials/solutions/06_inference_with_bits.py` — try first.

# %%
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # reproducible to the bit, see tutorial 1
os.environ["OMP_NUM_THREADS"] = "1"
%matplotlib inline

import time
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets

import matplotlib.pyplot as plt
import numpy as np

import abcref
from abcref.binarize import H_v, activation_thresholds
from abcref.bitpack import fold_batchnorm, fold_batchnorm_exact
from abcref.compiler import batchnorm_affine, compile_model
from abcref.data import load_digits
from abcref.exercises import inference
from abcref.nn import abc_conv, build_model
from abcref.train import Adam, Cosine, fit

plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "font.size": 11})
np.set_printoptions(precision=4, suppress=True, linewidth=110)

# %% [markdown]
# ## 1. Train and compile
#
# The same narrow digits CNN as in tutorial 5, with $M = N = 3$, trained for a few epochs:

# %%
data = load_digits()
config = {"arch": "small_cnn", "widths": [16, 32, 32], "conv": abc_conv(M=3, N=3), "seed": 0}
model = build_model(config)
history = fit(model, data, epochs=6, optimizer=Adam(model, lr=3e-3), schedule=Cosine(6),
              batch_size=64, progress=False)
print(f"float model: test top-1 {100 * history.last['test_top1']:.2f}%")

model.eval()  # compile_model refuses a model in training mode: batch norm must use its running statistics
bit_model = compile_model(model)
for name, layer in bit_model.children().items():
    print(f"{name:5s} {layer!r}" if type(layer).__name__ == "BitABCConv2d" else f"{name:5s} {type(layer).__name__}")

# %% [markdown]
# `bn1` and `bn2` are gone: each fed only the next ABC layer's comparators, so it was folded into them. The
# full-precision first convolution, the pooling, the last batch norm (it feeds the classifier, not a binariser) and the
# classifier stay in float. The compiled model is a snapshot: training `model` further does not change it.
#
# ## 2. Identical predictions
#
# **Predict first.** The compiled model replaces every ABC layer's float convolution by $M \cdot N = 9$ popcount
# convolutions and every binariser by a comparator with batch norm folded in. On how many of the 360 test images will
# its prediction differ from the float model's? Will the logits be equal to the last bit? Run both models:

# %%
tic = time.perf_counter()
float_logits = model.forward(data.x_test)
float_seconds = time.perf_counter() - tic
tic = time.perf_counter()
bit_logits = bit_model.forward(data.x_test)
bit_seconds = time.perf_counter() - tic

same = np.argmax(float_logits, axis=1) == np.argmax(bit_logits, axis=1)
print(f"identical predictions on {same.sum()} of {same.size} test images")
print(f"max |logit difference| = {np.max(np.abs(float_logits - bit_logits)):.2e} (logits of size ~{np.abs(float_logits).max():.0f})")
print(f"time: float {1000 * float_seconds:.0f} ms, bits {1000 * bit_seconds:.0f} ms")
assert same.all()

# %% [markdown]
# Every prediction agrees. The logits differ in the last few bits because the float model computes
# $\operatorname{Conv}(\tilde W, \tilde R)$ as one convolution while the compiled one sums $\alpha_m\beta_n$ times exact integers —
# the same number rounded differently. What *cannot* differ is any binary activation: a flipped bit would change
# the integers, and the next sections show why none flips, not even at the thresholds.
#
# (In NumPy the compiled model is slower: it runs $M \cdot N = 9$ popcount convolutions per layer where the float model
# runs one BLAS call. The point of the packed form here is exactness and memory; in hardware the xnor/popcount
# convolutions are the cheap ones.)
#
# ### Exercise 1: the only floating-point step
#
# `compiled.integer_convolutions(x)` (tutorial 4) returns the exact integers $\operatorname{Conv}(B_m, A_n)$ as an array
# `dots` of shape $(M, N, \text{batch}, O, H_o, W_o)$. Write `combine_convolutions(dots, alphas, betas)`: the layer
# output of eq. 12, shape $(\text{batch}, O, H_o, W_o)$, from `dots`, the $M$ weight scales `alphas` and the $N$
# activation scales `betas`. The checker tries $M = N$ and $M \ne N$.

# %%
def combine_convolutions(dots, alphas, betas):
    """Eq. 12's layer output from its M x N integer convolutions, shape (batch, O, Ho, Wo)."""
    # Your code here (one or a few lines).
    return None


inference.check_combine_convolutions(combine_convolutions)

# %% [markdown]
#
# ## 3. Batch norm folded into thresholds (§5.3)
#
# At run time a batch norm is an affine map per channel, $\mathrm{BN}(R) = aR + b$ with $a = \gamma / \sqrt{\sigma^2 + \epsilon}$ and
# $b = \beta_{\mathrm{BN}} - a\mu$. The binariser that follows fires when $\mathrm{BN}(R) \ge t$, $t = 0.5 - v$. The paper
# divides by $a$:
#
# $$H_v(\mathrm{BN}(R)) = +1 \iff aR + b \ge t \iff R \ge \frac{t - b}{a}.$$
#
# The last step is only right for $a > 0$. Dividing an inequality by a negative number flips it, and $a = 0$ cannot be
# divided by at all (conventions row 12):
#
# | scale | $H_v(\mathrm{BN}(R)) = +1$ iff |
# |---|---|
# | $a > 0$ | $R \ge (t - b)/a$ |
# | $a < 0$ | $R \le (t - b)/a$ |
# | $a = 0$ | always if $b \ge t$, never otherwise (the output is constant) |
#
# ### Exercise 2: fold a batch norm into a threshold, for any sign of $a$
#
# Write `fold_threshold(a, b, t)`: `a` and `b` are per-channel arrays of shape $(C,)$ (any sign, zeros included), `t` the
# binariser's threshold $0.5 - v$. Return `(threshold, direction)`, two arrays of shape $(C,)$, such that the binary
# activation of channel $c$ is $+1$ iff $R \ge$ `threshold[c]` where `direction[c]` is $+1$, and iff $R \le$ `threshold[c]`
# where it is $-1$. It must agree with $aR + b \ge t$ for every $R$, including $R$ exactly on the boundary. A hint for
# $a = 0$: `np.inf` and `-np.inf` are valid thresholds, and comparing against them gives a constant.

# %%
def fold_threshold(a, b, t):
    """H(aR + b >= t) as a comparator on R: (threshold, direction), each of shape (C,)."""
    # Your code here (a few lines).
    return None


inference.check_fold_threshold(fold_threshold)

# %% [markdown]
# $a < 0$ is not exotic: nothing constrains $\gamma$ to be positive during training. Let us make such channels on purpose:
# flip the sign of $\gamma$ on four channels of `bn2` and set it to 0 on one, compile again, and compare predictions.

# %%
edited = build_model(config)
edited.load_state_dict(model.state_dict())
gamma = edited.bn2.weight  # the batch norm scale gamma, PyTorch's name
gamma[:4] *= -1  # a < 0 on channels 0..3
gamma[4] = 0.0  # a = 0 on channel 4
edited.eval()
a, b, _ = batchnorm_affine(edited.bn2)
print("a for channels 0..5:", a[:6])

bit_edited = compile_model(edited)
same = np.argmax(edited.forward(data.x_test), axis=1) == np.argmax(bit_edited.forward(data.x_test), axis=1)
print(f"edited model: identical predictions on {same.sum()} of {same.size} test images")
assert same.all()
comparator = bit_edited.conv3.compiled.comparator
print("comparator directions, channels 0..5:", comparator.direction[:6])

# %% [markdown]
# Now look inside: take the real inputs $R$ of `bn2` for the test set, and compare three ways to binarise them for `conv3`:
# the float model's own $H_v(\mathrm{BN}(R))$, the folded comparators, and the paper's formula applied blindly.
#
# **Predict first.** On a channel with $a < 0$, what fraction of the bits does the paper's formula $R \ge (t - b)/a$ get
# wrong: about half, or more? And on the channel with $a = 0$? Run the cell:

# %%
def inputs_of(model, layer_name, x):
    for name, layer in model.children().items():
        if name == layer_name:
            return x
        x = layer.forward(x)
    raise ValueError(layer_name)


R = inputs_of(edited, "bn2", data.x_test)  # (batch, C, H, W), the batch norm's input
v = edited.conv3.params["v"]
t = activation_thresholds(v)
reference = np.stack([H_v(edited.bn2.forward(R), v_n) for v_n in v]) > 0  # the float model's bits
folded = comparator.bits(R)
with np.errstate(divide="ignore", invalid="ignore"):
    naive = R[None] >= ((t[:, None] - b[None]) / a[None])[:, None, :, None, None]  # paper's formula for every a
print("folded comparators vs float model: mismatched bits", np.count_nonzero(folded != reference), "of", reference.size)
wrong = naive != reference
for c in range(6):
    print(f"channel {c} (a = {a[c]:+.3f}): paper's formula gets {100 * wrong[:, :, c].mean():5.1f}% of the bits wrong")

# %% [markdown]
# For $a < 0$ the blind formula inverts every bit of those channels. For $a = 0$ it divides by zero; IEEE arithmetic
# happens to turn $(t - b)/0 = \pm\infty$ into the right constant, except when $t = b$ exactly ($0/0$ is NaN, and every
# comparison with NaN is false) — and fixed-point hardware has no infinities at all. abcref's comparator flips the
# comparison for $a < 0$, outputs the constant for $a = 0$, and matches the float model on every bit.
#
# Do negative scales occur without editing? Nothing prevents them — $\gamma$ is trained like any other parameter, with no
# sign constraint. Count them in the trained model:

# %%
for name in ("bn1", "bn2", "bn3"):
    a_trained, _, _ = batchnorm_affine(getattr(model, name))
    print(f"{name}: {np.count_nonzero(a_trained < 0)} of {a_trained.size} channels have a < 0")

# %% [markdown]
# Whatever the count in this short run, a compiler that assumes $a > 0$ is correct only by luck, and fails silently —
# a model whose predictions are slightly off, with no error — on the day a channel's $\gamma$ crosses zero.

# %% [markdown]
# ## 4. Why the thresholds are found by bisection
#
# Even for $a > 0$, computing $(t - b)/a$ in floating point and comparing $R$ against it is not *exactly* what the float
# model does: the float model evaluates the rounded $\mathrm{fl}(\mathrm{BN}(R)) \ge t$, and the rounded quotient can sit an ulp
# or two away from the true boundary. An $R$ that lands in that gap is binarised differently, and one flipped bit
# changes the integer convolutions. Rare, but an oracle must not depend on luck.
#
# **Predict first.** For the $3 \times 32$ thresholds of `conv3`, how many will the exact float boundary differ from
# the rounded quotient $(t - b)/a$, and by how many ulps at most? Read the answer below the explanation:
#
# `abcref.bitpack.fold_batchnorm` is the paper's formula as written (the quotient $(0.5 - v - b)/a$ rounded once, with
# the flip for $a < 0$ and the constant for $a = 0$ of section 3). `fold_batchnorm_exact`, which `compile_model` uses,
# finds the exact boundary instead: $R \mapsto \mathrm{fl}(\mathrm{BN}(R))$ is monotone (every rounded step is), so
# $\{R : \mathrm{fl}(\mathrm{BN}(R)) \ge t\}$ is a ray of floats, and a bisection over the ordered bit patterns of float32
# (at most 32 steps, vectorised over channels) finds its end point $R^*$. Compare the two, in units in the last place:

# %%
a0, b0, bn_fn = batchnorm_affine(model.bn2)
v0 = model.conv3.params["v"]
paper = fold_batchnorm(a0, b0, v0)  # section 5.3 (2): (0.5 - v - b) / a, rounded once
exact = fold_batchnorm_exact(a0, b0, v0, batchnorm=bn_fn)  # the exact float boundary
ulps = exact.thresholds.view(np.int32).astype(np.int64) - paper.thresholds.view(np.int32).astype(np.int64)
print("exact boundary minus rounded quotient, in ulps (N x first 8 channels):\n", ulps[:, :8])
print("thresholds where the two differ:", np.count_nonzero(ulps), "of", ulps.size,
      "| largest difference:", np.abs(ulps).max(), "ulps")

R0 = inputs_of(model, "bn2", data.x_test)
reference0 = np.stack([H_v(model.bn2.forward(R0), v_n) for v_n in v0]) > 0  # the float model's bits
print("bits where the paper's comparator disagrees with the float model (test set):",
      np.count_nonzero(paper.bits(R0) != reference0))
print("bits where the exact comparator disagrees with the float model (test set):",
      np.count_nonzero(exact.bits(R0) != reference0))

# %% [markdown]
# Many thresholds differ from the quotient by an ulp or more (the count and the largest gap are printed above): $a$ and $b$ are themselves rounded, and the float model does
# not compute $aR + b$ but $((R - \mu)/\sqrt{\sigma^2+\epsilon})\,\gamma + \beta$, rounding at each step in its own order. Each
# ulp of difference is a window in which an activation would be binarised differently from the float model. On these
# 360 images no activation happens to land in such a window (the count above); the test suite constructs inputs that do.
# The bisection costs nothing at inference — it runs once, at compile time.
#
# ## 5. The model summary
#
# `abcref.summary` counts parameters, memory and multiply-accumulates of the float model and of its packed form, each
# column under the model it describes (rules in `docs/bitpack.md`); it accepts the compiled model too, whose float-model
# columns then describe its packed form as stored.

# %%
abcref.summary(model, (1, 8, 8))

# %%
abcref.summary(bit_model, (1, 8, 8))

# %% [markdown]
# **Take-aways**
#
# * `compile_model(model.eval())` packs every binary ABC layer and folds each batch norm that feeds one into its comparators.
# * Predictions agree on every test image; binary activations agree bit for bit; logits agree to rounding.
# * Folding batch norm needs care: the comparison flips for $a < 0$, is constant for $a = 0$, and the threshold should be
#   the exact float boundary (`fold_batchnorm_exact`), not the rounded quotient (`fold_batchnorm`, the paper's formula).
#
# This is the end of the tutorials. The reference documentation is in `docs/`; `abcref reproduce` regenerates the
# README's results table and heatmap, and `figures/make_figures.py` its other figures.
