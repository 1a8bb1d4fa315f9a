# %% [markdown]
# # 1. Weight approximation: real weights as a sum of binary bases
#
# ABC-Net's first idea (paper §3.1, eqs. 1–7): replace a real weight tensor $W$ by a linear
# combination of $M$ binary tensors,
#
# $$W \approx \tilde W = \alpha_1 B_1 + \dots + \alpha_M B_M, \qquad B_m \in \{-1, +1\}^{\text{shape of } W}.$$
#
# A convolution with $\tilde W$ is then $M$ convolutions with ±1 filters (additions and subtractions only,
# or xnor/popcount once the inputs are binary too — tutorial 4), scaled and summed.
#
# This notebook builds the approximation step by step with `abcref.binarize`, on one filter and then a
# layer, and answers: how good is it, how fast does it improve with $M$, and where does it break?
#
# **Contents.** 1. One filter, by hand · 2. The bases of eq. 2 · 3. α by least squares (eq. 3) ·
# 4. Why $1 - 2/\pi$ at $M = 1$ · 5. Error against $M$ (the analogue of Table 1) · 6. Whole layer vs channel-wise ·
# 7. Ridge and rank deficiency · 8. The visualisation: trained filters against $\sum_m \alpha_m B_m$ ·
# 9. Try it: M and the shifts.
#
# **Exercises.** Three times you write the key lines yourself (NumPy only) and a checker cell tells you at once
# whether they are right: the bases of eq. 2, α from the normal equations of eq. 3, and α with a ridge. Each
# exercise cell returns `None` until you fill it in; the checker then says "not attempted yet". Worked solutions:
# `tutorials/solutions/01_weight_approximation.py`. **Predict first** cells ask you to guess a number before the
# code prints it: write your guess down, then run.

# %%
import os

# One BLAS thread: on small tensors threads cost more than they gain, and a fixed
# thread count makes every number below reproducible bit for bit.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
%matplotlib inline

import warnings

# abcref's trainer uses tqdm.auto; without ipywidgets it warns once. We train silently anyway.
warnings.filterwarnings("ignore", message="IProgress not found")

import matplotlib.pyplot as plt
import numpy as np

from abcref import viz
from abcref.exercises import weights
from abcref.binarize import (
    approximate_weights,
    combine_bases,
    fit_alphas,
    weight_bases,
    weight_shifts,
    weight_statistics,
)

plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "font.size": 10})
np.set_printoptions(precision=4, suppress=True, linewidth=100)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The problem (eq. 1)
#
# Write $w = \mathrm{vec}(W) \in \mathbb{R}^K$ and $D = [\mathrm{vec}(B_1), \dots, \mathrm{vec}(B_M)] \in \{-1,+1\}^{K\times M}$.
# The best approximation solves
#
# $$\min_{\alpha,\, D} \|w - D\alpha\|^2 \quad \text{s.t. } D_{ij} \in \{-1,+1\}. \tag{1}$$
#
# That is a combinatorial problem ($2^{KM}$ choices of $D$), and worse, its solution is not a differentiable
# function of $W$, so training could not backpropagate through it. The paper's way out is to **fix the bases
# as simple functions of $W$** and only solve for $\alpha$.
#
# Take one 3×3 filter with a single input channel:

# %%
W = rng.normal(size=(1, 1, 3, 3))  # OIHW: one output channel, one input channel
print(W[0, 0])

# %% [markdown]
# ## 2. The bases (eq. 2)
#
# $$B_i = F_{u_i}(W) = \operatorname{sign}\big(W - \operatorname{mean}(W) + u_i \operatorname{std}(W)\big),
# \qquad u_i = -1 + (i-1)\frac{2}{M-1}.$$
#
# Each base is the sign of the centred weights after a shift by $u_i$ standard deviations: the shifts are evenly
# spaced over $[-1, 1]$, so the bases cut the weight distribution at $M$ different levels. In abcref this is
# `abcref.binarize.weights.weight_bases` (the shifts $u_i$: `weight_shifts`; mean and std: `weight_statistics`), written
# as the formula above. Two details the paper leaves open and abcref fixes (see `docs/conventions.md`):
#
# * $\operatorname{sign}(0) = -1$ (row 1): a base never holds a 0, otherwise it would not be binary;
# * $\operatorname{std}$ is the population std (`ddof=0`, row 3), and $M = 1$ uses $u = 0$ (row 4; the formula divides by $M-1$).

# %%
M = 3
print("shifts u:", weight_shifts(M))
mean, std = weight_statistics(W)
print(f"mean(W) = {mean.item():.4f}, std(W) = {std.item():.4f}")
B = weight_bases(W, M)
for i in range(M):
    print(f"B_{i + 1} (u = {weight_shifts(M)[i]:+.0f}):\n{B[i, 0, 0]}")

# %% [markdown]
# $u = -1$ moves every weight down by one std before taking the sign, so $B_1$ is +1 only on the large weights;
# $u = +1$ moves them up, so $B_3$ is −1 only on the most negative ones. The bases are **nested**: wherever
# $B_1 = +1$, also $B_2 = B_3 = +1$.
#
# ### Exercise 1: the bases of eq. 2
#
# Write `shifted_sign_bases(W, M)`: given real weights `W` (any shape) and $M \ge 1$, return the array of shape
# `(M, *W.shape)` holding $B_1, \dots, B_M$ of eq. 2, with NumPy only (not `weight_bases`). Use the mean and std of
# the whole tensor and the three conventions above. The checker tries several $M$ (including $M = 1$), a $W$ whose
# mean is not 0, and weights that land exactly on a cut.

# %%
def shifted_sign_bases(W, M):
    """The M bases of eq. 2 for weights W, as an array of shape (M, *W.shape) of -1 and +1."""
    # Your code here (a few lines).
    return None


weights.check_weight_bases(shifted_sign_bases)

# %% [markdown]
# ## 3. α by least squares (eq. 3)
#
# With $D$ fixed, eq. 1 is ordinary linear regression, $\min_\alpha \|w - D\alpha\|^2$, whose normal equations
# give $\alpha = (D^\top D)^{-1} D^\top w$ when $D$ has full column rank. abcref solves the ridge-augmented
# system $[D; \sqrt{\lambda} I]\,\alpha = [w; 0]$ with `scipy.linalg.lstsq` (section 7 explains why): that is
# `abcref.binarize.weights.fit_alphas`, and `combine_bases` forms $\tilde W = \sum_m \alpha_m B_m$.

# %%
alphas = fit_alphas(W, B)
W_tilde = combine_bases(B, alphas)
print("alphas:", alphas)
print("W_tilde:\n", W_tilde[0, 0])
print("residual W - W_tilde:\n", (W - W_tilde)[0, 0])

# %% [markdown]
# $\tilde W$ takes at most $M + 1 = 4$ distinct values here (the bases are nested, so only $M+1$ sign patterns occur per
# element): the approximation is a **staircase** applied to $W$. `approximate_weights` does both steps in one call
# (eq. 4, the bases, then eq. 5, solve eq. 3 for $\alpha$).
# A least-squares residual is orthogonal to every base, $D^\top(w - D\alpha) = 0$ (up to the tiny ridge), which we can check:

# %%
B, alphas = approximate_weights(W, M)
residual = (W - combine_bases(B, alphas)).ravel()
print("D^T (w - D alpha) =", B.reshape(M, -1) @ residual)

# %% [markdown]
# ### Exercise 2: α from the normal equations
#
# Write `fit_alphas_normal_equations(W, B)`: given `W` and bases `B` of shape `(M, *W.shape)`, return α of shape
# `(M,)` minimising $\|w - D\alpha\|^2$. Form $D$ from `B` and solve the normal equations (any exact least-squares
# solver is accepted too). Then look at section 7 below: which inputs make your solver fail, and why?

# %%
def fit_alphas_normal_equations(W, B):
    """The least-squares scales alpha of eq. 3, shape (M,), for weights W and bases B."""
    # Your code here (a few lines).
    return None


weights.check_alphas_normal_equations(fit_alphas_normal_equations)

# %% [markdown]
# ## 4. Why the error is $1 - 2/\pi$ at $M = 1$
#
# With one base and weights of mean 0, $B = \operatorname{sign}(W)$ and the regression has one unknown:
#
# $$\alpha^* = \frac{\langle w, B\rangle}{\langle B, B\rangle} = \frac{\sum_k |w_k|}{K} = \operatorname{mean}|w|.$$
#
# (This is the Binary-Weight-Network scale of Rastegari et al.) The remaining squared error is
#
# $$\|w - \alpha^* B\|^2 = \|w\|^2 - 2\alpha^*\langle w, B\rangle + \alpha^{*2} K = \|w\|^2 - K\,(\operatorname{mean}|w|)^2,$$
#
# so the **relative** error is $1 - (\operatorname{mean}|w|)^2 / \operatorname{mean}(w^2)$. For Gaussian weights
# $w \sim \mathcal N(0, \sigma^2)$, $\mathbb E|w| = \sigma\sqrt{2/\pi}$ (integrate $2\int_0^\infty x\,\varphi(x/\sigma)/\sigma\,dx$)
# and $\mathbb E w^2 = \sigma^2$, hence
#
# $$\frac{\|w - \alpha^* B\|^2}{\|w\|^2} \;\longrightarrow\; 1 - \frac{2}{\pi} \approx 0.363 \quad (K \to \infty),$$
#
# independent of $\sigma$.
#
# **Predict first.** How much of a Gaussian layer's energy $\|W\|^2$ does one binary base keep: a quarter, a half,
# two thirds, nine tenths? Does the answer depend on the layer's std (0.05 below)? Then run the cell: it measures a
# large Gaussian layer.

# %%
W_layer = rng.normal(scale=0.05, size=(64, 64, 3, 3))
m1_error = viz.reconstruction_error(W_layer, 1)
print(f"measured  M=1 error: {m1_error:.4f}, so one base keeps {1 - m1_error:.1%} of the energy")
print(f"predicted 1 - 2/pi : {1 - 2 / np.pi:.4f}")
print(f"ten times the std   : error {viz.reconstruction_error(10 * W_layer, 1):.4f} (the scale only scales alpha)")

# %% [markdown]
# ## 5. Error against $M$ — the analogue of Table 1
#
# The paper's Table 1 shows ImageNet accuracy climbing towards full precision as $M$ goes 1, 2, 3, 5
# (62.8, 63.7, 66.2, 68.3 vs 69.3 % top-1). The quantity behind it is the reconstruction error, which we can
# compute exactly.
#
# **Predict first.** Does each added base divide the error by a constant factor (as a Taylor series would), or does
# the gain shrink as $M$ grows? The last column prints the factor.

# %%
Ms = [1, 2, 3, 4, 5, 6]
errors = [viz.reconstruction_error(W_layer, m) for m in Ms]
previous = None
for m, e in zip(Ms, errors):
    factor = "" if previous is None else f"   error / previous error = {e / previous:.2f}"
    print(f"M = {m}: relative error {e:.4f}   ({100 * (1 - e):.1f} % of the energy kept){factor}")
    previous = e

# %% [markdown]
# The error falls quickly but not geometrically, because the shifts are fixed at $[-1, 1]$ std: the bases only
# resolve the body of the distribution, and the tails beyond $\pm 1$ std are represented by a single step each.
# That is also why adding bases helps less and less, and why the paper offers trainable shifts.
#
# ## 6. Whole layer vs channel-wise (§3.1.1 vs §3.1.2)
#
# The paper trains with one $(\alpha, B)$ fit per **layer**; §3.1.2 proposes one fit per **output channel**
# (mean, std and α per filter), at no extra inference cost. On i.i.d. Gaussian weights every channel looks alike,
# so channel-wise gains little. Real layers are not like that: filters have very different norms. Give each
# output channel its own scale and compare.
#
# **Predict first.** With filter norms spread over ten times, how much worse is the whole-layer fit than the
# channel-wise one at $M = 3$: 10 %, twice, ten times? The cell prints the ratio after the table.

# %%
channel_scale = np.exp(rng.normal(scale=0.8, size=(64, 1, 1, 1)))  # filter norms spread over ~10x
W_real = W_layer * channel_scale
curves = {}
for label, tensor in [("Gaussian, whole layer", W_layer), ("Gaussian, channel-wise", W_layer),
                      ("uneven norms, whole layer", W_real), ("uneven norms, channel-wise", W_real)]:
    per_channel = "channel-wise" in label
    curves[label] = (Ms, [viz.reconstruction_error(tensor, m, per_channel=per_channel) for m in Ms])
    print(f"{label:28s}", " ".join(f"{e:.4f}" for e in curves[label][1]))
at_3 = Ms.index(3)
ratio = curves["uneven norms, whole layer"][1][at_3] / curves["uneven norms, channel-wise"][1][at_3]
print(f"uneven norms, M = 3: whole-layer error / channel-wise error = {ratio:.1f}")
fig = viz.plot_error_vs_m(curves)
fig

# %% [markdown]
# With uneven filter norms, one layer-wide $\alpha$ cannot fit small and large filters at once: the small filters
# are rounded to $\pm\alpha$, far too large for them. Channel-wise fitting brings the error back to the Gaussian
# curve. (Channel-wise with $M = 1$ and zero-mean filters is exactly BWN.)
#
# ## 7. Ridge and rank deficiency (§3.3)
#
# "As $M$ increases, the shift parameters get closer and the bases … are more correlated, which sometimes leads to
# rank deficiency." Two bases are **identical** when no weight lies between their two cut levels. Then
# $D^\top D$ is singular and the normal equations have no unique solution. Tiny layers make it easy to see:
# a filter with 4 weights and $M = 5$ bases.

# %%
W_tiny = np.array([[[[0.3, -0.1], [0.05, -0.4]]]])
B_tiny = weight_bases(W_tiny, 5)
D = B_tiny.reshape(5, -1).T  # K x M design matrix
print("design matrix D (columns = bases):\n", D)
print("rank of D:", np.linalg.matrix_rank(D), "of", D.shape[1], "columns")
try:
    np.linalg.solve(D.T @ D, D.T @ W_tiny.ravel())  # the textbook normal equations
except np.linalg.LinAlgError as exc:
    print("normal equations:", type(exc).__name__, "-", exc)
print("D^T D =\n", D.T @ D, "\neigenvalues:", np.linalg.eigvalsh(D.T @ D))
try:  # your function of exercise 2 (None until you write it)
    print("your fit_alphas_normal_equations:", fit_alphas_normal_equations(W_tiny, B_tiny))
except Exception as exc:  # whatever your solver raises on a singular D^T D
    print("your fit_alphas_normal_equations:", type(exc).__name__, "-", exc)

# %% [markdown]
# abcref adds the $\ell_2$ penalty the paper suggests, $\min_\alpha \|w - D\alpha\|^2 + \lambda\|\alpha\|^2$, solved as the
# augmented least-squares problem $[D; \sqrt\lambda I]\,\alpha = [w; 0]$ (one SVD-based `lstsq`, no explicit
# $D^\top D$, which would square the condition number). The default $\lambda = 10^{-6}$ is negligible next to
# $D^\top D$, whose entries are of size up to $K$, but makes the solution unique and continuous in $W$: duplicate
# bases share their weight equally. `ridge=0` returns the minimum-norm least-squares solution, which is also
# unique; both reconstruct $W$ equally well.

# %%
for ridge in (1e-6, 0.0):
    B_r, a_r = approximate_weights(W_tiny, 5, ridge=ridge)
    err = np.sum((W_tiny - combine_bases(B_r, a_r)) ** 2)
    print(f"ridge={ridge:g}: alphas={a_r}, squared error {err:.2e}")
W_const = np.full((2, 3, 3, 3), 0.7)  # constant weights: std = 0, every base is -1
B_c, a_c = approximate_weights(W_const, 3)
print("constant W: alphas", a_c, "-> W_tilde =", np.unique(combine_bases(B_c, a_c)))

# %% [markdown]
# **Pitfall.** With a constant $W$ (or one whose floating-point std is a rounding artefact of order $10^{-17}$)
# the bases could come out of either sign at random. abcref pins mean and std exactly for constant tensors
# (all bases $-1$, α picks up the value with a minus sign) — see `weight_statistics`.
#
# ### Exercise 3: α with a ridge
#
# Write `fit_alphas_ridge(W, B, ridge)`: return the α of shape `(M,)` that minimises
# $\|w - D\alpha\|^2 + \lambda\|\alpha\|^2$ with $\lambda$ = `ridge` $> 0$. Set the gradient with respect to α to zero to
# get a linear system, and solve it. The checker runs it on the tiny 4-weight layer with 5 bases above, where the
# plain normal equations fail, and on a constant $W$, where every base is the same.

# %%
def fit_alphas_ridge(W, B, ridge):
    """The scales alpha, shape (M,), minimising ||w - D alpha||^2 + ridge ||alpha||^2."""
    # Your code here (a few lines).
    return None


weights.check_alphas_ridge(fit_alphas_ridge)
#
# ## 8. The visualisation: trained filters against $\sum_m \alpha_m B_m$
#
# The paper's supplementary S2 shows real filters next to their approximations. Here are the first eight of the sixteen
# 3×3 filters of the first layer of a small full-precision CNN trained for two epochs on the embedded handwritten digits
# (tutorial 5 trains these models properly). The top row is the real filters; each further row is one approximation
# $\sum_m \alpha_m B_m$, labelled with $M$ and its error "err" $= \|W - \sum_m \alpha_m B_m\|^2 / \|W\|^2$ over the
# whole layer (the relative error of sections 4–6). All images share one colour scale: red positive, blue negative,
# white 0. The right column is the histogram of all the layer's weights: the approximation turns the continuous
# histogram into at most $2^M$ spikes (only $M + 1$ are used, because the bases are nested).
#
# **Predict first.** From which $M$ on will you be unable to tell the approximated filters from the real ones by eye?

# %%
from abcref.data import load_digits
from abcref.nn import build_model
from abcref.train import Adam, fit

data = load_digits()
fp_model = build_model({"arch": "small_cnn", "conv": "fp", "widths": [16, 32, 32], "seed": 0})
fit(fp_model, data, epochs=2, optimizer=Adam(fp_model, lr=3e-3), batch_size=64, progress=False)
W_trained = fp_model.conv1.weight  # the trained OIHW weights (params["weight"])
print("first layer:", W_trained.shape, W_trained.dtype, f"(the figure shows 8 of its {W_trained.shape[0]} filters)")
fig = viz.plot_weight_approximation(W_trained, Ms=(1, 2, 3, 4, 5), num_filters=8)
fig

# %%
print(" M   err     distinct values   largest |weight| (real: %.3f)" % np.abs(W_trained).max())
for m in (1, 2, 3, 4, 5):
    W_m = combine_bases(*approximate_weights(W_trained, m))
    err = viz.reconstruction_error(W_trained, m)
    print(f"{m:2d}   {err:.3f}   {len(np.unique(W_m)):15d}   {np.abs(W_m).max():.3f}")

# %% [markdown]
# Not at $M = 5$, and not at $M = 3$: the approximations keep each filter's **pattern** (where it is positive and
# where negative, which weights are large) but not its **values**. Each filter is painted with the $M + 1$ flat levels
# of the staircase, and the largest weights are cut down to the outermost level (the last column above): the shifts
# stop at $\pm 1$ std, so the tails of the histogram (filter 6's dark corner, filter 1's dark edge) are represented
# by one step each. The error falls quickly up to $M = 3$ and slowly after, as in section 5. A network does not need
# the values to look right, only the convolution outputs to be close enough; the accuracies of tutorial 5 show how
# close that is.
#
# Note the filters are float32 and so is everything derived from them: abcref keeps the dtype of its inputs.
#
# ## 9. Try it: M and the shifts
#
# The paper fixes the shifts at $u_i \in [-1, 1]$; `approximate_weights` takes any `shifts`. The function below draws
# the staircase $w \mapsto \tilde w$ of the Gaussian layer of section 4 (left) and its histogram (right) for $M$
# bases with shifts evenly spaced over $[-s, s]$. Here it is for the paper's choice; below it, in a live notebook
# with `ipywidgets` installed (`pip install -e ".[notebooks]"`), sliders for $M$ and $s$ redraw it. Which spread $s$
# gives the smallest error at $M = 3$, and does the best $s$ grow with $M$?

# %%
def draw_staircase(M=3, spread=1.0):
    """The M-base approximation of W_layer with shifts evenly spaced over [-spread, spread]."""
    shifts = np.zeros(1) if M == 1 else np.linspace(-spread, spread, M)
    W_m = combine_bases(*approximate_weights(W_layer, M, shifts=shifts))
    err = viz.reconstruction_error(W_layer, M, shifts=shifts)
    w, w_m = W_layer.ravel()[::7], W_m.ravel()[::7]  # every 7th weight is plenty for a line
    order = np.argsort(w)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
    left.plot(w[order], w[order], color="gray", ls="--", lw=1, label="identity")
    left.plot(w[order], w_m[order], color="C3", label=r"$\tilde w = \sum_m \alpha_m B_m$")
    left.set_xlabel("real weight w")
    left.set_ylabel(r"approximation $\tilde w$")
    left.set_title(f"M = {M}, shifts in [-{spread:.2f}, {spread:.2f}]: err {err:.4f}")
    left.legend(loc="upper left")
    bins = np.linspace(w.min(), w.max(), 61)
    right.hist(W_layer.ravel(), bins=bins, color="C0", alpha=0.6, label="real weights")
    right.hist(W_m.ravel(), bins=bins, color="C3", alpha=0.8, label="approximation")
    right.set_xlabel("weight value")
    right.set_ylabel("number of weights")
    right.legend(loc="upper left")
    plt.show()


draw_staircase(M=3, spread=1.0)
for spread in (0.5, 1.0, 1.5, 2.0):
    print(f"M = 3, shifts in [-{spread}, {spread}]: err {viz.reconstruction_error(W_layer, 3, shifts=np.linspace(-spread, spread, 3)):.4f}")

# %%
try:
    import ipywidgets
except ImportError:  # e.g. in CI: the static figure above is all there is
    print("ipywidgets is not installed: the figure above is the static version")
else:
    ipywidgets.interact(
        draw_staircase,
        M=ipywidgets.IntSlider(value=3, min=1, max=8, description="M"),
        spread=ipywidgets.FloatSlider(value=1.0, min=0.1, max=2.5, step=0.1, description="spread s"),
    )

# %% [markdown]
# **Take-aways**
#
# * Fixing the bases as shifted signs (eq. 2) turns an intractable problem into linear least squares (eq. 3).
# * One base keeps $2/\pi \approx 64\%$ of a Gaussian layer's energy; each further base helps less.
# * Channel-wise fitting costs nothing at inference and matters when filter norms differ.
# * Close shifts or tiny layers make bases coincide; a tiny ridge keeps α unique.
#
# Next: [tutorial 2](02_shifted_binary_activations.ipynb) does the same for activations, where there is no
# regression to solve at inference time.
