# %% [markdown]
# # 5. Training ABC-Net
#
# Tutorials 1–4 took the pieces apart; now we train whole networks with `abcref.train` on the embedded handwritten
# digits (1,797 8×8 images, a fixed stratified 80/20 split, shipped with abcref — no download). The questions are
# the paper's §4, at laptop scale:
#
# * how close does an ABC network get to its full-precision twin (Table 3)?
# * how does accuracy depend on the number of weight bases $M$ and binary activations $N$ (Table 2)?
# * does starting from a trained full-precision model help (§3.3)?
#
# Everything here is deliberately small (narrow networks, a few epochs, one seed) so the notebook runs in about a
# minute. `abcref reproduce` runs a larger sweep with several seeds (its table is in the README).
#
# **Contents.** 1. Data and models · 2. Full precision vs ABC: training curves · 3. A small $M \times N$ table ·
# 4. Fine-tuning from full precision · 5. What the trained layer learned.
#
# **Exercises.** You write one Adam step and see why Adam hides the scale of the gradient (section 2), and the gradients
# that train the activation shifts $v$ and scales $\beta$ (section 5). A checker cell follows each and says at once
# whether your function is right; until you fill it in it reports "not attempted yet", so the notebook runs top to
# bottom either way. Worked solutions are in `tutorials/solutions/05_training.py` — try first.

# %%
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # reproducible to the bit, see tutorial 1
os.environ["OMP_NUM_THREADS"] = "1"
%matplotlib inline

import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets

import matplotlib.pyplot as plt
import numpy as np

from abcref import ops, viz
from abcref.data import load_digits
from abcref.exercises import training
from abcref.nn import abc_conv, build_model
from abcref.train import SGD, Adam, Cosine, evaluate, fit, init_from_full_precision

plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "font.size": 11})
np.set_printoptions(precision=4, suppress=True, linewidth=100)

# %% [markdown]
# ## 1. Data and models
#
# `load_digits()` returns float32 images in $[0, 1]$ of shape (N, 1, 8, 8). The model is `small_cnn`: a full-precision
# first convolution, then ABC convolutions, each followed by batch norm, global average pooling and a
# full-precision classifier. Two rules from the paper are built in: **max-pooling comes before batch norm and
# binarisation** (§3.3: max-pooling binary values gives mostly +1), and **batch norm precedes every binarisation**,
# so the thresholds of tutorial 2 see roughly unit-Gaussian inputs. The full-precision baseline is the same graph
# with `ReLU -> Conv2d` in place of each ABC convolution, so the two differ only in what the paper changes.
# The layers train on the fast tier: each `ABCConv2d` computes eq. 12 as one float convolution of $\tilde W$ and
# $\tilde R$ (`abcref.fast.abcconv`, tied by tests to the reference $M \times N$ sum `abcref.binarize.abc_conv2d_forward`
# of tutorial 3).

# %%
data = load_digits()
print(f"train {data.x_train.shape}, test {data.x_test.shape}, classes {data.num_classes}")
WIDTHS = [16, 32, 32]  # narrower than the default [32, 64, 64, 64], to keep the notebook fast
EPOCHS = 8


def make(conv, seed=0):
    return build_model({"arch": "small_cnn", "widths": WIDTHS, "conv": conv, "seed": seed})


for name, layer in make(abc_conv(M=3, N=3)).children().items():
    print(f"{name:5s} {type(layer).__name__}({layer.extra_repr() if hasattr(layer, 'extra_repr') else ''})")

# %% [markdown]
# ## 2. Full precision vs ABC: training curves
#
# Adam with a cosine learning-rate decay, the same seed (initialisation and minibatch order) for every run. Adam also
# makes the reading of eq. 7 irrelevant (tutorial 3; the exercise below shows why).
#
# **Predict first.** After 8 epochs, how many percentage points below the full-precision network will ABC with
# $M = N = 3$ end? And with $M = N = 1$? Write your guesses down, then run the cell:

# %%
def train(model, epochs=EPOCHS, lr=3e-3, seed=0):
    optimizer = Adam(model, lr=lr)
    return fit(model, data, epochs=epochs, optimizer=optimizer, schedule=Cosine(epochs),
               batch_size=64, seed=seed, progress=False)


runs = {"full precision": "fp", "ABC M=3, N=3": abc_conv(M=3, N=3), "ABC M=1, N=1": abc_conv(M=1, N=1)}
models, histories = {}, {}
for label, conv in runs.items():
    models[label] = make(conv)
    histories[label] = train(models[label])
    last = histories[label].last
    print(f"{label:15s} test top-1 {100 * last['test_top1']:.2f}%  train loss {last['train_loss']:.4f}")
for label in ("ABC M=3, N=3", "ABC M=1, N=1"):
    gap = histories["full precision"].last["test_top1"] - histories[label].last["test_top1"]
    print(f"{label} ends {100 * gap:.2f} points below full precision")
viz.plot_training_curves(histories, metrics=("train_loss", "test_loss", "test_top1"))

# %% [markdown]
# The ABC networks train more slowly and more noisily — their forward pass is a staircase of the full-precision one,
# and their gradients are straight-through estimates — but they get close. On 360 test images one image is 0.28
# percentage points, so differences of a point or less between single runs are noise; `abcref reproduce` and the
# README report means over seeds.
#
# ### Exercise 1: one Adam step, and why it hides the scale
#
# Write `adam_step(grad, m, s, t, lr, b1, b2, eps)` (Kingma & Ba, 2015): `m` and `s` are the running first and second
# moments of the gradient (zeros before step 1), `t` the step number counted from 1. Return `(step, m, s)`: the new
# moments, and the step that Adam subtracts from the parameter, with bias correction. The checker runs six steps.

# %%
def adam_step(grad, m, s, t, lr, b1, b2, eps):
    """One Adam update: returns (step, m, s); the parameter becomes p - step."""
    # Your code here (a few lines).
    return None


training.check_adam_step(adam_step)

# %% [markdown]
# **Predict first.** Two readings of eq. 7 (tutorial 3) give the latent weights gradients that differ by a constant
# factor. Multiply every gradient of a model by 10: how much larger is Adam's first step? And plain SGD's? Run the cell
# (it uses `abcref.train.Adam` and `SGD` on the gradients of one minibatch):

# %%
probe = make(abc_conv(M=3, N=3))
logits = probe.forward(data.x_train[:64])
_, loss_cache = ops.softmax_cross_entropy_forward(logits, data.y_train[:64])
probe.backward(ops.softmax_cross_entropy_backward(1.0, loss_cache))
minibatch_grads = {name: g.copy() for name, g in probe.named_grads()}


def first_step(optimizer_class, scale, **options):
    """Every parameter's change after one step on scale x the minibatch gradients, flattened."""
    model = make(abc_conv(M=3, N=3))  # the same seed: the same starting parameters as probe
    for name, g in model.named_grads():
        g[...] = scale * minibatch_grads[name]
    before = [p.copy() for _, p in model.named_parameters()]
    optimizer_class(model, **options).step()
    return np.concatenate([(p - b).ravel() for (_, p), b in zip(model.named_parameters(), before, strict=True)])


for name, cls, options in (("Adam", Adam, {"lr": 3e-3}), ("SGD", SGD, {"lr": 0.05, "momentum": 0.0})):
    step1, step10 = first_step(cls, 1.0, **options), first_step(cls, 10.0, **options)
    print(f"{name:4s}: |step with 10 x grad| / |step with grad| = {np.linalg.norm(step10) / np.linalg.norm(step1):.4f}")

# %% [markdown]
# Adam divides the first moment by the root of the second, so a constant factor on the gradient cancels (up to `eps`):
# on its first step every parameter moves by about `lr` in the direction of minus the sign of its gradient. SGD's step
# scales with the gradient, so for SGD the reading of eq. 7 acts as a different learning rate.
#
# ## 3. A small $M \times N$ table (the analogue of Table 2)
#
# Table 2 of the paper (ResNet-18 on ImageNet) shows accuracy rising with both $M$ and $N$, and more with $N$:
# (M, N) = (3, 1) gives 49.1 % top-1, (1, 1) 42.7 %, (3, 3) 61.0 %, (5, 5) 65.0 %, against 69.3 % for full precision.
# Here are the four corners of $\{1, 3\}^2$ at the same small budget (two of them we already trained).
#
# **Predict first.** Starting from $M = N = 1$, which helps more here: three weight bases ($M = 3$) or three binary
# activations ($N = 3$)? Run the cell:

# %%
Ms, Ns = [1, 3], [1, 3]
accuracy = np.full((len(Ms), len(Ns)), np.nan)
for i, M in enumerate(Ms):
    for j, N in enumerate(Ns):
        label = f"ABC M={M}, N={N}"
        if label not in histories:
            models[label] = make(abc_conv(M=M, N=N))
            histories[label] = train(models[label])
        accuracy[i, j] = 100 * histories[label].last["test_top1"]
fp_accuracy = 100 * histories["full precision"].last["test_top1"]
viz.plot_accuracy_heatmap(accuracy, Ms, Ns, full_precision=fp_accuracy, title="digits, 8 epochs, 1 seed")
print(f"from M = N = 1: M = 3 gains {accuracy[1, 0] - accuracy[0, 0]:+.2f} points, "
      f"N = 3 gains {accuracy[0, 1] - accuracy[0, 0]:+.2f} points (top-1, %)")

# %% [markdown]
# Digits is an easy task and these are single runs, so read the table for its trend, not its decimals (for means over
# seeds, `abcref.apps.sweep.run_sweep` trains a grid of configurations under one budget; `abcref reproduce` runs
# such a sweep with 3 seeds, and the README shows its table and heatmap). Two patterns
# to look for, both in the paper: more binary activations help more than more weight bases (binarising
# activations loses more information than binarising weights, tutorial 2 vs tutorial 1), and every configuration
# stays below full precision. With a longer budget the configurations with $N \ge 3$ catch up with full precision and
# the trend drowns in noise (`docs/cli.md` compares 3 and 5 epochs over three seeds); short budgets or narrow networks
# are where $M$ and $N$ show.
#
# ## 4. Fine-tuning from full precision (§3.3)
#
# "Since our binarization scheme approximates full-precision weights, using the full-precision pre-train model serves
# as a perfect initialization." `init_from_full_precision(abc_model, fp_model)` copies every corresponding entry —
# convolution weights into the ABC layers' **latent** weights, batch-norm parameters and running statistics, the
# classifier — and leaves the ABC-only parameters ($v$, $\beta$) at their initialisation.
#
# **Pitfall: which full-precision model?** An ABC layer does not approximate `ReLU -> Conv`: its input
# $\sum_n \beta_n H_{v_n}(R)$ is a staircase fitted to the **hard tanh** $\operatorname{clip}(R, -1, 1)$ (tutorial 2). A ReLU network
# is a different function, so its weights are a poor starting point. The network the ABC model approximates is the
# full-precision one with `activation="hardtanh"`.
#
# **Predict first.** Before a single training step (chance is 10 %), what test accuracy will an ABC network copied from
# the ReLU network get? And copied from the hard-tanh network? Measure both:

# %%
def make_fp_source(activation):
    model = build_model({"arch": "small_cnn", "widths": WIDTHS, "conv": "fp", "activation": activation, "seed": 0})
    train(model)
    return model


fp_hardtanh = make_fp_source("hardtanh")
print(f"full precision, hard tanh: test top-1 {100 * evaluate(fp_hardtanh, data.x_test, data.y_test)['top1']:.2f}%")
for label, source, activation in (("ReLU source", models["full precision"], "relu"),
                                  ("hard-tanh source", fp_hardtanh, "hardtanh")):
    target = build_model({"arch": "small_cnn", "widths": WIDTHS, "conv": abc_conv(M=3, N=3),
                          "activation": activation, "seed": 1})
    init_from_full_precision(target, source)
    top1 = evaluate(target, data.x_test, data.y_test)["top1"]
    print(f"ABC M=N=3 initialised from the {label:16s}: test top-1 {100 * top1:.2f}% before any training step")

# %% [markdown]
# (The `activation` entry of the ABC config is unused — its layers binarise their own inputs — but
# `init_from_full_precision` insists that the two configs agree on everything except the convolution kind and the
# seed, so that the names it copies mean the same thing.) Copied from the hard-tanh network, the binary network
# classifies most digits before a single step. Now fine-tune it for three epochs, against the same network trained
# from scratch for three epochs:

# %%
FINETUNE_EPOCHS = 3
config = {"arch": "small_cnn", "widths": WIDTHS, "conv": abc_conv(M=3, N=3), "activation": "hardtanh", "seed": 1}
scratch, finetuned = build_model(config), build_model(config)
report = init_from_full_precision(finetuned, fp_hardtanh)
print("copied:", report["copied"])
print("kept (ABC-only):", report["kept"])
h_scratch = train(scratch, epochs=FINETUNE_EPOCHS)
h_finetune = train(finetuned, epochs=FINETUNE_EPOCHS)
for label, h in (("from scratch", h_scratch), ("from full precision", h_finetune)):
    print(f"{label:20s} " + "  ".join(f"epoch {r['epoch']}: {100 * r['test_top1']:.2f}%" for r in h.records))
viz.plot_training_curves({"from scratch": h_scratch, "from full precision (hard tanh)": h_finetune},
                         metrics=("train_loss", "test_top1"))

# %% [markdown]
# Starting from the full-precision weights saves most of the training; on ImageNet the paper relies on it. On
# digits, training from scratch catches up within a few more epochs.
#
# ## 5. What the trained layer learned
#
# The trained activation shifts and scales of each ABC layer, against their initialisation (thresholds at the Gaussian
# quantiles $\Phi^{-1}(n/4) = -0.674, 0, 0.674$ and least-squares $\beta$, tutorial 2). Nothing forces $\beta > 0$ or the
# thresholds to stay ordered; training moves them where the loss wants them.
#
# ### Exercise 2: the gradients that train $v$ and $\beta$
#
# Training moved $v$ and $\beta$ by the gradients of $\tilde R = \sum_n \beta_n H_{v_n}(R)$. Write
# `activation_param_grads(R, v, beta, grad)`: given the input `R`, the shifts `v` and scales `beta` (shape $(N,)$) and the
# upstream gradient `grad` $= \partial c / \partial \tilde R$ (shape of `R`), return `(dv, dbeta)`, each of shape $(N,)$:
# $\partial c/\partial v_n$ through the straight-through estimator of eq. 10 (with the erratum fixed, tutorial 2), and
# $\partial c/\partial \beta_n$. The checker compares with `abcref.binarize.approximate_activations_backward`.

# %%
def activation_param_grads(R, v, beta, grad):
    """(dc/dv, dc/dbeta) of R_tilde = sum_n beta_n H_{v_n}(R), each of shape (N,)."""
    # Your code here (a few lines).
    return None


training.check_activation_param_grads(activation_param_grads)

# %% [markdown]
# **Predict first.** After 8 epochs, are the thresholds of each trained layer still in increasing order, as
# initialised, and are all the $\beta_n$ still positive? Print the trained values:

# %%
from abcref.binarize import activation_thresholds

for name in ("conv2", "conv3"):
    layer = getattr(models["ABC M=3, N=3"], name)
    B, alphas = layer.weight_bases()
    thresholds, beta = activation_thresholds(layer.params["v"]), layer.params["beta"]
    print(f"{name}: thresholds 0.5 - v = {thresholds}, beta = {beta}, alpha = {alphas}")
    print(f"       thresholds in increasing order: {bool(np.all(np.diff(thresholds) > 0))}; "
          f"every beta > 0: {bool(np.all(beta > 0))}")

# %% [markdown]
# And the binary maps $A_n$ themselves — the paper's supplementary S3 — for one test image entering `conv2`: each row is one
# binariser $H_{v_n}$, each column one channel. The lower the threshold, the more of the map is on.

# %%
model = models["ABC M=3, N=3"]
maps = viz.binary_activation_maps(model, data.x_test[:1], "conv2")  # (N, 1, C, H, W)
viz.plot_feature_maps(data.x_test[0, 0], maps[:, 0], channels=range(6), v=model.conv2.params["v"])

# %% [markdown]
# **Take-aways**
#
# * With batch norm before every binariser and max-pooling before batch norm, ABC networks train with the ordinary
#   loop and optimizer; `fit` records every epoch and can checkpoint and resume exactly.
# * On digits, ABC with a few bases comes within a point or two of full precision; $N$ matters more than $M$.
# * A trained full-precision model is a good starting point (`init_from_full_precision`).
#
# Next: [tutorial 6](06_inference_with_bits.ipynb) compiles a trained model into bits and checks that it predicts the same.
