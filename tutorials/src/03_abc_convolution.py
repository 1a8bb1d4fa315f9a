# %% [markdown]
# # 3. The ABC convolution: forward, backward, and the three readings of eq. 7
#
# Tutorials 1 and 2 approximated weights and activations separately. The ABC convolution combines them
# (paper eq. 12):
#
# $$\operatorname{Conv}(W, R) \approx \operatorname{Conv}\Big(\sum_{m=1}^M \alpha_m B_m,\ \sum_{n=1}^N \beta_n A_n\Big)
# = \sum_{m=1}^M \sum_{n=1}^N \alpha_m \beta_n \operatorname{Conv}(B_m, A_n). \tag{12}$$
#
# The right-hand side is what hardware runs: $M \times N$ convolutions of ±1 tensors (tutorial 4), then a weighted sum.
# This notebook runs eq. 12 forward and backward with `abcref.binarize.abc_conv2d_forward/backward`, checks every
# gradient that *can* be checked by finite differences live, and then looks at the one place where the paper is
# ambiguous about the backward pass.
#
# **Contents.** 1. Forward: one float conv instead of $M \times N$ · 2. Backward and live gradient checks ·
# 3. What the STE for $W$ replaces · 4. Three readings of eq. 7 · 5. SGD cares, Adam does not ·
# 6. Weight decay under the literal reading.
#
# **Exercises.** Twice you write the key lines yourself and a checker cell tells you at once whether they are right:
# eq. 12 as $M \times N$ binary convolutions, and the same output from one float convolution. Each exercise cell
# returns `None` until you fill it in; the checker then says "not attempted yet". Worked solutions:
# `tutorials/solutions/03_abc_convolution.py`. A **Predict first** cell asks for a guess before the code answers.

# %%
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # reproducible to the bit, see tutorial 1
os.environ["OMP_NUM_THREADS"] = "1"
%matplotlib inline

import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets

import matplotlib.pyplot as plt
import numpy as np

from abcref import ops
from abcref.binarize import (
    abc_conv2d_backward,
    abc_conv2d_forward,
    activation_ste_mask,
    approximate_activations_forward,
    approximate_weights,
    binarize_activations,
    combine_bases,
    default_activation_params,
    weight_ste_scale,
)
from abcref.exercises import abcconv
from abcref.fast.abcconv import abc_conv2d_forward as fast_abc_conv2d_forward
from abcref.gradcheck import check_gradient, numerical_gradient, relative_error

plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "font.size": 10})
np.set_printoptions(precision=4, suppress=True, linewidth=100)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Forward: the $M \times N$ sum, and one float convolution instead
#
# `abcref.binarize.abc_conv2d_forward` is eq. 12 as written: it binarises $R$ into $A_1, \dots, A_N$ (eq. 11), runs
# the $M \times N$ convolutions $\operatorname{Conv}(B_m, A_n)$ and sums them with the weights $\alpha_m \beta_n$. Convolution
# is bilinear, so the same sum is a single convolution of $\tilde W = \sum_m \alpha_m B_m$ with
# $\tilde R = \sum_n \beta_n A_n$. The trainer uses that (`abcref.fast.abcconv`: one BLAS convolution, not six); a test
# ties it to the reference. In float64 the two agree to rounding:

# %%
M, N = 3, 2
x = rng.standard_normal((2, 4, 6, 6))  # R: batch-normalised input, NCHW
W = rng.standard_normal((5, 4, 3, 3)) * 0.2  # latent real weights, OIHW
v, beta = default_activation_params(N, np.float64)

out, cache = abc_conv2d_forward(x, W, v, beta, M=M, padding=1)
one_conv, _ = fast_abc_conv2d_forward(x, W, v, beta, M=M, padding=(1, 1))
print("output shape", out.shape, "| max |M x N sum - one conv| =", np.max(np.abs(out - one_conv)))
np.testing.assert_allclose(out, one_conv, rtol=0, atol=1e-12)

# %% [markdown]
# The layer never sees $W$ or $R$ themselves: only their binary codes and the scalars $\alpha, \beta$. Compared with
# the full-precision convolution of the same $W$ and the clipped input the staircase approximates, the output is
# a coarse but correlated version:

# %%
exact, _ = ops.conv2d_forward(np.clip(x, -1, 1), W, padding=1)
print("correlation(ABC output, full-precision conv of clip(x)) =", np.corrcoef(out.ravel(), exact.ravel())[0, 1].round(3))

# %% [markdown]
# ### Exercise 1: eq. 12 term by term
#
# Write `abc_conv_sum(B, alphas, A, beta)`: given the weight bases `B` (shape `(M, C_out, C_in, 3, 3)`, ±1), their
# scales `alphas` (shape `(M,)`), the binary activations `A` (shape `(N, batch, C_in, H, W)`, ±1) and their scales
# `beta` (shape `(N,)`), return the right-hand side of eq. 12, shape `(batch, C_out, H, W)`, as $M \times N$
# convolutions of ±1 tensors. Use `ops.conv2d_forward(input, filters, padding=1)` (it returns `(output, cache)`) for
# each binary convolution: stride 1 and zero padding 1, so a 3×3 kernel keeps the image size.

# %%
def abc_conv_sum(B, alphas, A, beta):
    """Eq. 12 as M x N binary convolutions (padding 1), shape (batch, C_out, H, W)."""
    # Your code here (a few lines).
    return None


abcconv.check_abc_conv_sum(abc_conv_sum)

# %% [markdown]
# ### Exercise 2: one float convolution
#
# Now the trainer's way. Write `abc_conv_one(x, W, v, beta, M)`: given the real input `x`, the latent weights `W`,
# the activation shifts `v` and scales `beta` and the number of weight bases `M`, return the same output as
# `abc_conv2d_forward(x, W, v, beta, M=M, padding=1)` with a **single** call of `ops.conv2d_forward`. Build the two
# approximations with the library (`approximate_weights`, `combine_bases`, `approximate_activations_forward`), then
# think about where the zero padding goes.

# %%
def abc_conv_one(x, W, v, beta, M):
    """The ABC convolution's output (padding 1) from one float convolution."""
    # Your code here (a few lines).
    return None


abcconv.check_abc_conv_one(abc_conv_one)

# %% [markdown]
# ### Which helps more, $M$ or $N$?
#
# An ABC layer costs $M \times N$ binary convolutions, so a budget of, say, 3 can buy $M = 3, N = 1$ or $M = 1, N = 3$.
# How close is the output to the full-precision convolution of the clipped input, $\operatorname{Conv}(W,
# \operatorname{clip}(x, -1, 1))$, for each $(M, N)$? The weights and inputs below are Gaussian, as in a fresh layer
# with batch-normalised inputs.
#
# **Predict first.** Which is closer to full precision: $M = 3, N = 1$ or $M = 1, N = 3$? And does the error go to
# 0 as both grow? The figure draws the relative error $\|O_{M,N} - O_{\text{fp}}\|^2 / \|O_{\text{fp}}\|^2$ against
# $M$, one line per $N$, with the two limits (full-precision activations: eq. 6; full-precision weights); the
# cell prints the answer.

# %%
layer_rng = np.random.default_rng(1)  # its own generator: the later cells draw from rng as before
x_big = layer_rng.standard_normal((8, 16, 8, 8))
W_big = layer_rng.standard_normal((16, 16, 3, 3)) * 0.1
target, _ = ops.conv2d_forward(np.clip(x_big, -1, 1), W_big, padding=1)


def output_error(M, N):
    """Relative squared error of the ABC output against Conv(W, clip(x)); None = full precision."""
    if M is None:  # full-precision weights, binary activations
        v_n, beta_n = default_activation_params(N, np.float64)
        approx, _ = ops.conv2d_forward(approximate_activations_forward(x_big, v_n, beta_n)[0], W_big, padding=1)
    elif N is None:  # binary weights, full-precision (clipped) activations: eq. 6
        approx, _ = abc_conv2d_forward(np.clip(x_big, -1, 1), W_big, None, None, M=M, padding=1)
    else:
        v_n, beta_n = default_activation_params(N, np.float64)
        approx, _ = fast_abc_conv2d_forward(x_big, W_big, v_n, beta_n, M=M, padding=(1, 1))
    return float(np.sum((approx - target) ** 2) / np.sum(target**2))


sizes = [1, 2, 3, 4, 5]
grid_error = {(m, n): output_error(m, n) for m in sizes for n in sizes}
fig, ax = plt.subplots(figsize=(6.5, 3.4), layout="constrained")
for n in sizes:
    ax.plot(sizes, [grid_error[m, n] for m in sizes], marker="o", label=f"N = {n}")
ax.plot(sizes, [output_error(m, None) for m in sizes], "k--", marker="s", label="full-precision activations")
ax.plot(sizes, [output_error(None, 5)] * len(sizes), color="gray", ls=":", label="full-precision weights, N = 5")
ax.set_xlabel("number of weight bases M")
ax.set_ylabel("relative squared error of the output")
ax.set_yscale("log")
ax.set_xticks(sizes)
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
ax.grid(alpha=0.3)
plt.show()
print(f"M = 3, N = 1: error {grid_error[3, 1]:.3f}    M = 1, N = 3: error {grid_error[1, 3]:.3f}"
      f"    -> for 3 binary convolutions, more {'weight' if grid_error[3, 1] < grid_error[1, 3] else 'activation'} bases help more")
print("error at M = 5 for N = 1..5:", " ".join(f"{grid_error[5, n]:.3f}" for n in sizes))
print(f"M = 5, N = 5: error {grid_error[5, 5]:.3f}; full-precision activations, M = 5: {output_error(5, None):.3f}; "
      f"full-precision weights, N = 5: {output_error(None, 5):.3f}")

# %% [markdown]
# Read the figure both ways. Along a line ($N$ fixed) the error falls fast up to $M = 3$ and slowly after, like the
# weight error of tutorial 1. Across the lines ($M$ fixed) the first extra activation base helps most and the
# curves soon crowd onto the dashed one, whose activations are exact: beyond a few activation bases the weights are
# the bottleneck. Neither limit reaches 0: the staircases stop at fixed levels, and the dotted line shows that even
# exact weights leave the activation error. This measures one random layer's output; a trained network's accuracy
# can weigh the two differently: in the paper's Table 2 (ResNet-18 on ImageNet), going from $N = 1$ to $N = 3$ at
# $M = 3$ raises top-1 from 49.1 % to 61.0 %, more than going from $M = 3$ to $M = 5$ at $N = 1$ (54.1 %).
#
# ## 2. Backward and live gradient checks
#
# `abc_conv2d_backward` returns gradients for the input $R$ (here `x`), the latent weights $W$, the shifts $v$ and the
# scales $\beta$. They are of two kinds:
#
# * **true gradients** — $\partial c/\partial \beta$ (the output is linear in $\beta$), and $\partial c/\partial x$ when
#   the activations stay full precision (`v=None, beta=None`, the paper's Table 1 setting). These must match
#   central finite differences, and do:

# %%
dout = rng.standard_normal(out.shape)
grads = abc_conv2d_backward(dout, cache)
print(sorted(grads))


def out_of_beta(b):
    return abc_conv2d_forward(x, W, v, b, M=M, padding=1)[0]


err = check_gradient(out_of_beta, beta.copy(), dout, grads["beta"], name="dbeta")
print(f"dbeta: relative error {err:.1e}")

out_fp, cache_fp = abc_conv2d_forward(x, W, None, None, M=M, padding=1)  # weight-only ABC (eq. 6)
grads_fp = abc_conv2d_backward(dout, cache_fp)
err = check_gradient(
    lambda z: abc_conv2d_forward(z, W, None, None, M=M, padding=1)[0], x.copy(), dout, grads_fp["R"], name="dx"
)
print(f"dx (full-precision activations): relative error {err:.1e}")

# %% [markdown]
# * **straight-through gradients** — $\partial c/\partial x$ and $\partial c/\partial v$ through the binarisers
#   (tutorial 2), and $\partial c/\partial W$ through the bases. The forward is piecewise constant in these, so finite
#   differences would say 0 (or, for $W$, something else — section 3). An STE is checked against **its formula**.
#   With $G_x = \partial c/\partial \tilde R$ and $G_W = \partial c/\partial \tilde W$ from one ordinary convolution backward:
#
# $$\frac{\partial c}{\partial x} = G_x \circ \sum_n \beta_n\, \mathbb 1[0 \le x + v_n \le 1], \qquad
# \frac{\partial c}{\partial W} = s \cdot G_W,$$
#
# where $s$ depends on the reading of eq. 7 (section 4). Rebuild both from `abcref.ops` and compare:

# %%
B, alphas = approximate_weights(W, M)
W_tilde = combine_bases(B, alphas)
R_tilde, _ = approximate_activations_forward(x, v, beta)
_, conv_cache = ops.conv2d_forward(R_tilde, W_tilde, padding=1)
G_x, G_W, _ = ops.conv2d_backward(dout, conv_cache)

expected_dx = G_x * np.tensordot(beta, activation_ste_mask(x, v), axes=(0, 0))
expected_dW = weight_ste_scale(alphas, "paper", W.ndim) * G_W
print("dx vs formula:", relative_error(grads["R"], expected_dx))
print("dW vs formula:", relative_error(grads["W"], expected_dW))

# %% [markdown]
# ## 3. What the STE for $W$ replaces
#
# Is $\partial c/\partial W$ really "not finite-differenceable"? The bases are piecewise constant in $W$, but $\alpha$ is not:
# it is the least-squares solution $\alpha = (D^\top D + \lambda I)^{-1} D^\top w$, a smooth function of $w$ while no base
# flips. So the forward *does* depend on $W$ smoothly, through $\tilde w = P w$ with the projection
# $P = D (D^\top D + \lambda I)^{-1} D^\top$ onto the span of the $M$ bases. The true local gradient is therefore
# $P\, G_W$ — a rank-$M$ signal that can only rescale the current staircase, never move a weight across a step.
# Finite differences confirm it:

# %%
W_check = W.copy()


def out_of_W(w):
    return abc_conv2d_forward(x, w, v, beta, M=M, padding=1)[0]


numeric = numerical_gradient(out_of_W, W_check, dout)
D = B.reshape(M, -1).T  # K x M design matrix, tiny illustrative numpy
P = D @ np.linalg.solve(D.T @ D + 1e-6 * np.eye(M), D.T)
print("finite differences vs P G_W :", relative_error(numeric, (P @ G_W.ravel()).reshape(W.shape)))
print("finite differences vs STE   :", relative_error(numeric, grads["W"]))

# %% [markdown]
# The STE (eq. 7) throws $P$ away and passes the full $G_W$ (times a scale) to the latent weights, so that weights
# drift until they cross a cut level and a base flips. That is the point of keeping real-valued latent weights
# ("the real-valued weights are reserved and updated", §3). **Pitfall:** an implementation that lets autograd
# differentiate the least-squares solve — but treats the sign as constant — trains with $P\,G_W$ and its latent
# weights barely move; one that applies the STE *and* differentiates $\alpha$ gets a mixture. abcref treats $\alpha$
# as a constant in backward, as the paper does.
#
# ## 4. Three readings of eq. 7
#
# $$\frac{\partial c}{\partial W} = \frac{\partial c}{\partial O} \Big( \sum_m \alpha_m \frac{\partial O}{\partial B_m} \frac{\partial B_m}{\partial W}\Big)
# \overset{\text{STE}}{=} \sum_m \alpha_m \frac{\partial c}{\partial B_m}. \tag{7}$$
#
# What is $\partial c/\partial B_m$? With $\tilde W = \sum_m \alpha_m B_m$ and $G = \partial c / \partial \tilde W$:
#
# | `weight_ste` | reading | $\partial c / \partial W$ |
# |---|---|---|
# | `"paper"` (default) | literally, $\partial c/\partial B_m = \alpha_m G$ (the chain rule through $\tilde W$) | $\big(\sum_m \alpha_m^2\big)\, G$ |
# | `"sum"` | $\partial c/\partial B_m$ = gradient at the $m$-th binary conv's output, without its $\alpha_m$, $= G$ | $\big(\sum_m \alpha_m\big)\, G$ |
# | `"identity"` | the plain STE through $\tilde W \approx W$ | $G$ |
#
# All three point in the same direction; they differ by a **positive scalar per layer**. How big is it? For the
# initial weights of a real layer:

# %%
from abcref.nn import ABCConv2d

layer = ABCConv2d(32, 64, 3, M=3, N=3, rng=np.random.default_rng(0))
_, layer_alphas = layer.weight_bases()
print("alphas:", layer_alphas)
for reading in ("paper", "sum", "identity"):
    print(f"{reading:9s} scale s = {float(weight_ste_scale(layer_alphas, reading, 4)):.5f}")

# %% [markdown]
# Under the literal reading the latent-weight gradient is **about a thousand times smaller** than under the identity reading,
# and the ratio changes from layer to layer (it follows the weight scale, $\alpha \sim$ std$(W)$).
#
# ## 5. SGD cares, Adam does not
#
# * **SGD** updates $W \leftarrow W - \eta\, s\, G$: the scale multiplies the learning rate of each layer's weights.
#   With $s \sim 10^{-3}$ the weights of the ABC layers hardly move at a learning rate that suits the other
#   parameters (BN, $v$, $\beta$, first and last layer).
# * **Adam** updates $W \leftarrow W - \eta\, \hat m / (\sqrt{\hat v} + \epsilon)$ with $\hat m$, $\hat v$ running averages of
#   $g$ and $g^2$. Multiply every gradient by a constant $s > 0$: $\hat m \to s \hat m$, $\hat v \to s^2 \hat v$, and
#   $$\frac{s\,\hat m}{\sqrt{s^2 \hat v} + \epsilon} = \frac{\hat m}{\sqrt{\hat v} + \epsilon / s}.$$
#   The update is unchanged as long as $\epsilon / s \ll \sqrt{\hat v}$. (The scale drifts slowly as $\alpha$ changes, so
#   the invariance is approximate after the first step; the very first Adam step is $\eta\, g/(|g| + \epsilon)$,
#   invariant exactly up to $\epsilon$.)
#
# Train the same small ABC model (same seed, same minibatches) under each reading, with SGD and with Adam, and record
# the loss and the size of each update of one ABC layer's latent weights:

# %%
from abcref.data import load_digits
from abcref.nn import build_model
from abcref.train import SGD, Adam, train_step

data = load_digits()
batch_rng = np.random.default_rng(0)
batches = [batch_rng.choice(len(data.y_train), 64, replace=False) for _ in range(80)]
readings = ("paper", "sum", "identity")


def run(reading, optimizer_name):
    config = {"arch": "small_cnn", "widths": [8, 16, 16], "seed": 0,
              "conv": {"kind": "abc", "M": 3, "N": 3, "weight_ste": reading}}
    model = build_model(config)
    if optimizer_name == "SGD":
        optimizer = SGD(model, lr=0.05, momentum=0.9)
    else:
        optimizer = Adam(model, lr=3e-3)
    W = model.conv2.weight  # the latent W, updated in place by the optimizer
    losses, steps = [], []
    for idx in batches:
        before = W.copy()
        loss, _ = train_step(model, optimizer, data.x_train[idx], data.y_train[idx])
        losses.append(loss)
        steps.append(W - before)
    return np.array(losses), steps


results = {(r, o): run(r, o) for o in ("SGD", "Adam") for r in readings}

# %%
fig, axes = plt.subplots(2, 2, figsize=(8, 5), layout="constrained", sharex=True)
for col, opt_name in enumerate(("SGD", "Adam")):
    for reading in readings:
        losses, steps = results[reading, opt_name]
        axes[0, col].plot(losses, label=reading)
        axes[1, col].plot([np.linalg.norm(s) for s in steps], label=reading)
    axes[0, col].set_title(f"{opt_name}: training loss")
    axes[0, col].set_ylabel("cross-entropy loss")
    axes[1, col].set_title(f"{opt_name}: update of conv2.weight per step")
    axes[1, col].set_ylabel(r"$\|\Delta W\|$ (log scale)")
    axes[1, col].set_yscale("log")
    for row in (0, 1):
        axes[row, col].set_xlabel("training step")
        axes[row, col].legend(fontsize=8, title="weight_ste", title_fontsize=8)
plt.show()

for opt_name in ("SGD", "Adam"):
    first = {r: results[r, opt_name][1][0] for r in readings}
    ratio_paper = np.linalg.norm(first["paper"]) / np.linalg.norm(first["identity"])
    ratio_sum = np.linalg.norm(first["sum"]) / np.linalg.norm(first["identity"])
    final = {r: results[r, opt_name][0][-20:].mean() for r in readings}
    print(f"{opt_name:4s}: first-step update size paper/identity = {ratio_paper:.4f}, sum/identity = {ratio_sum:.4f}; "
          f"mean loss of the last 20 steps: " + ", ".join(f"{r} {final[r]:.3f}" for r in readings))

# %% [markdown]
# With SGD the three readings are three different learning rates for the ABC weights: the first update differs by
# the ratio of the scales (about $\sum\alpha^2 \approx 0.003$ and $\sum \alpha \approx 0.1$), and the trajectories separate
# at once. With Adam the first updates coincide and the curves stay together — they are not identical afterwards,
# because a binary network amplifies tiny differences (one weight crossing a cut level flips a base), but
# statistically they are the same run.
#
# **Practical consequence.** The reading of eq. 7 is a hidden per-layer learning-rate multiplier. With Adam (what
# the paper's peers and abcref's experiments use) it does not matter; with SGD, pick `weight_ste="identity"` or rescale
# the learning rate, or the ABC layers will train far slower than the rest. abcref defaults to the literal reading
# so that its numbers can be compared with an implementation that follows eq. 7 to the letter, and names the
# alternatives so the choice is explicit (conventions row 7).
#
# ## 6. Weight decay under the literal reading
#
# Weight decay adds $\lambda W$ to the gradient (coupled L2, `torch.optim.SGD`/`Adam`) or shrinks the weights by
# $W \leftarrow (1 - \eta\lambda) W$ outside the gradient (decoupled: AdamW, SGDW). Either way it is tuned against the
# gradient's natural size, and the literal reading makes the latent-weight gradient about a thousand times smaller.
# How much smaller, on the default `small_cnn` (widths 32, 64, 64, 64; $M = N = 3$; initial weights; the mean over five
# minibatches of 64), and how large is a typical $\lambda W$ with $\lambda = 5 \cdot 10^{-4}$ beside it?

# %%
from abcref.train import evaluate

WD = 5e-4


def backward_on(model, idx):
    """Forward, loss and backward on one minibatch; the gradients are left in the layers."""
    model.zero_grad()
    logits = model.forward(data.x_train[idx])
    loss, cache = ops.softmax_cross_entropy_forward(logits, data.y_train[idx])
    model.backward(ops.softmax_cross_entropy_backward(1.0, cache))
    return float(loss)


def rms(a):
    return float(np.sqrt(np.mean(a**2)))


for reading in readings:
    model = build_model({"arch": "small_cnn", "seed": 0,
                         "conv": {"kind": "abc", "M": 3, "N": 3, "weight_ste": reading}})
    grads = {name: [] for name in ("conv2", "conv3", "conv4")}
    for idx in batches[:5]:
        backward_on(model, idx)
        for name in grads:
            grads[name].append(rms(getattr(model, name).grads["weight"]))
    print(f"{reading:9s} " + "  ".join(
        f"{name}: RMS dc/dW {np.mean(g):.1e}, RMS(λW)/RMS(dc/dW) {rms(WD * getattr(model, name).weight) / np.mean(g):.3g}"
        for name, g in grads.items()))

# %% [markdown]
# Under `"identity"` the decay term is a few thousandths of the gradient, as decay is meant to be; under `"paper"` it is
# several times **larger** than the gradient, so coupled decay, not the data, decides where the latent weights go.
# (`"sum"` sits in between, at a few hundredths.) What that does in training: the small model of section 5, the same 80
# minibatches, with no decay, with coupled L2, and with decoupled decay of the ABC layers' latent weights, both
# written out by hand below (the optimizers refuse two of these combinations, see the end of this section):

# %%
def small_model(reading):
    """The model of section 5: small_cnn with widths 8, 16, 16, ABC M = N = 3, seed 0."""
    return build_model({"arch": "small_cnn", "widths": [8, 16, 16], "seed": 0,
                        "conv": {"kind": "abc", "M": 3, "N": 3, "weight_ste": reading}})


def abc_weights(model):
    return np.concatenate([model.conv2.weight.ravel(), model.conv3.weight.ravel()])


def train_with_decay(reading, optimizer_name, decay):
    model = small_model(reading)
    optimizer = SGD(model, lr=0.05, momentum=0.9) if optimizer_name == "SGD" else Adam(model, lr=3e-3)
    losses = []
    for idx in batches:
        losses.append(backward_on(model, idx))
        for layer in (model.conv2, model.conv3):  # the ABC layers' latent weights
            if decay == "coupled":
                layer.grads["weight"] += WD * layer.weight  # L2 in the gradient
            elif decay == "decoupled":
                layer.weight[...] *= 1 - optimizer.lr * WD  # shrink, outside the gradient
        optimizer.step()
    return model, np.mean(losses[-20:])


W0 = abc_weights(small_model("paper"))  # the same initial weights under every reading
decayed = {}
for opt_name in ("SGD", "Adam"):
    for reading in ("paper", "identity"):
        for decay in ("none", "coupled", "decoupled"):
            model, loss = train_with_decay(reading, opt_name, decay)
            W = decayed[opt_name, reading, decay] = abc_weights(model)
            top1 = evaluate(model, data.x_test, data.y_test)["top1"]
            moved = f"(the data moved W by {np.linalg.norm(W - W0) / np.linalg.norm(W0):.1%})" if decay == "none" else ""
            print(f"{opt_name:4s} {reading:8s} {decay:9s}: |W|/|W0| = {np.linalg.norm(W) / np.linalg.norm(W0):.4f}, "
                  f"loss of the last 20 steps {loss:.3f}, test top-1 {top1:.1%} {moved}")

# %% [markdown]
# Read it row by row (single runs of 80 steps, so read the trends, not the last digit of an accuracy):
#
# * **SGD, `"paper"`.** The data hardly move the latent weights (section 5), and coupled decay, which momentum
#   amplifies about $1/(1 - 0.9) = 10$-fold, shrinks $|W|$ by about as much as the data moved it. Decoupled decay
#   shrinks $|W|$ by $1 - (1 - \eta\lambda)^{80} \approx 0.2\%$ under every reading: a tenth of what the data moved $W$
#   under `"paper"`, about a thousandth of it under `"identity"`.
# * **Adam, `"paper"`, coupled.** Adam normalises the gradient it is given, and that gradient is now mostly $\lambda W$:
#   the weights shrink towards 0 at the learning rate per step, and the network with them.
# * **Adam, `"paper"`, decoupled.** Adam's step ignores the gradient's scale and the decay ignores the gradient: this
#   combination decays the weights exactly as under `"identity"`, where no combination misbehaves.
#
# So abcref's optimizers refuse coupled decay, and SGD refuses any decay, of latent weights read with `"paper"`, and
# say why; `Adam(..., decoupled_weight_decay=True)` (AdamW) is allowed, and is exactly the by-hand decoupled run above:

# %%
for make in (lambda m: SGD(m, lr=0.05, weight_decay=WD), lambda m: Adam(m, lr=3e-3, weight_decay=WD)):
    try:
        make(small_model("paper"))
    except ValueError as error:
        print("refused:", error)

model = small_model("paper")
adamw = Adam(model, lr=3e-3, weight_decay=WD, decoupled_weight_decay=True,
             decay_filter=lambda name, p: name in ("conv2.weight", "conv3.weight"))
for idx in batches:
    backward_on(model, idx)
    adamw.step()
print("the library's AdamW equals the by-hand decoupled run bit for bit:",
      np.array_equal(abc_weights(model), decayed["Adam", "paper", "decoupled"]))

# %% [markdown]
# **Take-aways**
#
# * Eq. 12 is bilinear: one float convolution of $\tilde W$ and $\tilde R$ equals the $M \times N$ binary ones.
# * $\partial c/\partial\beta$ is a true gradient; $x$, $v$ and $W$ get straight-through gradients, checked against their formulas.
# * The true gradient with respect to $W$ is a projection onto the bases; the STE deliberately replaces it.
# * The three readings of eq. 7 differ by a per-layer scale: irrelevant under Adam, a learning-rate change under SGD.
# * The same scale makes weight decay of the latent weights wrong under the literal reading, except decoupled decay
#   under Adam (AdamW); abcref refuses the other combinations.
#
# Next: [tutorial 4](04_bits.ipynb) computes $\operatorname{Conv}(B_m, A_n)$ with xnor and popcount, exactly.
