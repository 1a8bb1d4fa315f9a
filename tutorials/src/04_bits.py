# %% [markdown]
# # 4. Bits: packing, xnor/popcount, and exact equality
#
# Eq. 12 reduces an ABC convolution to $M \times N$ convolutions $\operatorname{Conv}(B_m, A_n)$ of tensors that hold only
# $\pm 1$. Such a convolution needs no multiplier: store each ±1 as one bit, and a dot product of $K$ of them is
# one XOR, one popcount and a subtraction. This notebook builds that up with `abcref.bitpack`, and checks
# every result **for exact equality** against the float convolution of the same ±1 tensors — integers either
# match to the last bit or the code is wrong; there is no tolerance to hide behind.
#
# **Contents.** 1. The packed format · 2. A dot product by xnor/popcount, worked by hand · 3. A convolution ·
# 4. Zero padding: a bit cannot hold 0 · 5. A real ABC layer, bit-exact · 6. Memory and operation counts.
#
# **Exercises.** Two places ask you to write a few lines: the dot product from packed words (section 2) and the
# zero-padding correction (section 4). A checker cell follows each and says at once whether your function is right;
# until you fill it in it reports "not attempted yet", so the notebook runs top to bottom either way. Worked solutions
# are in `tutorials/solutions/04_bits.py` — try first.

# %%
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # reproducible to the bit, see tutorial 1
os.environ["OMP_NUM_THREADS"] = "1"
%matplotlib inline

import matplotlib.pyplot as plt
import numpy as np

import abcref
from abcref import ops
from abcref.binarize import binarize_activations
from abcref.bitpack import (
    num_words,
    pack_signs,
    unpack_signs,
    xnor_conv2d,
    zero_padding_correction,
)
from abcref.compiler import compile_layer, model_summary, summary_totals
from abcref.exercises import bits
from abcref.nn import ABCConv2d, build_model

plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "font.size": 11})
np.set_printoptions(linewidth=110)
rng = np.random.default_rng(0)


def signs(*shape):
    """Random +-1 array (float64) for the examples."""
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)

# %% [markdown]
# ## 1. The packed format
#
# abcref packs signs into `uint64` words: **bit 1 means +1, bit 0 means −1**, element $j$ goes to word $j // 64$,
# bit $j \bmod 64$, least significant bit first. When the length is not a multiple of 64 the unused **tail bits are 0**.
# Seventy signs need two words:

# %%
a = signs(70)
words = pack_signs(a)
print("words:", words, "| num_words(70) =", num_words(70))
for w in words:
    print(format(int(w), "064b")[::-1], "(bit 0 first)")
print("first 8 signs:", a[:8].astype(int))
assert np.array_equal(unpack_signs(words, length=70, dtype=np.float64), a)

# %% [markdown]
# The second word carries 6 real elements and 58 zero tail bits. Zeros in both operands XOR to 0, so they never
# count as disagreements: the tail is harmless **provided both operands are packed the same way** (the
# `unpack_signs` check rejects words with tail bits set, which would betray a foreign packing).
#
# ## 2. A dot product by xnor/popcount, worked by hand
#
# For $a, b \in \{\pm1\}^K$ the product $a_k b_k$ is $+1$ where the signs agree and $-1$ where they differ. The bits differ
# exactly where $a'_k \oplus b'_k = 1$, so with $p = \operatorname{popcount}(a' \oplus b')$ disagreements:
#
# $$a \cdot b = (K - p)\cdot(+1) + p\cdot(-1) = K - 2\,\operatorname{popcount}(a' \oplus b').$$
#
# (XNOR counts agreements, $K - p$; counting XOR disagreements is the same with one operation less.)

# %%
K = 10
a, b = signs(K), signs(K)
wa, wb = pack_signs(a), pack_signs(b)
x = wa ^ wb
p = int(np.bitwise_count(x).sum())
print("a      ", a.astype(int))
print("b      ", b.astype(int))
print("a' bits", format(int(wa[0]), f"0{K}b")[::-1])
print("b' bits", format(int(wb[0]), f"0{K}b")[::-1])
print("xor    ", format(int(x[0]), f"0{K}b")[::-1], f"-> popcount p = {p}")
print(f"K - 2p = {K - 2 * p},  a . b = {int(a @ b)}")
assert K - 2 * p == a @ b

# %% [markdown]
# A 64-bit word handles 64 multiply-accumulates with one XOR and one popcount — on an FPGA, a 1-bit xnor gate
# costs one slice against ~200 for a float multiplier (paper §1). In NumPy, `np.bitwise_count` is the popcount.
#
# **Predict first.** Hardware and the paper speak of **XNOR**, which counts agreements: $\sim(a' \oplus b')$. Take
# $K = 70$ signs (two words). If you XNOR the whole words and popcount them, how far off is the count of agreements,
# and why? Run the cell:

# %%
K = 70
a, b = signs(K), signs(K)
wa, wb = pack_signs(a), pack_signs(b)
agree_whole_words = int(np.bitwise_count(~(wa ^ wb)).sum())
print(f"agreements counted on whole words: {agree_whole_words}; true agreements: {int(np.sum(a == b))}; "
      f"tail bits in the last word: {64 * num_words(K) - K}")

# %% [markdown]
# The zero tail bits XOR to 0, so XNOR turns every one of them into a 1: an "agreement" that is not an element.
#
# ### Exercise 1: the dot product from packed words
#
# Write `xnor_dot(a_words, b_words, K)`: given the words of two ±1 vectors of length $K$ (packed by `pack_signs`, so
# their tail bits are 0) return $a \cdot b$ as an integer, using bit operations on the words only (no unpacking). Use
# XOR or XNOR as you like; the checker tries lengths from 1 to 200, with and without a partial last word.

# %%
def xnor_dot(a_words, b_words, K):
    """a . b of two +-1 vectors of length K, from their packed uint64 words."""
    # Your code here (a few lines).
    return None


bits.check_xnor_dot(xnor_dot)

# %% [markdown]
#
# ## 3. A convolution
#
# `abcref.bitpack.xnor_conv2d(a, b)` is the identity as written: it packs the $K = C\,k_h\,k_w$ signs of every
# receptive field into words, the filters likewise, and returns $K - 2\,\operatorname{popcount}(a' \oplus b')$ for every
# output value. Its int64 output equals the float convolution of the same ±1 arrays:

# %%
A = signs(2, 3, 5, 5)  # activations, NCHW
Bf = signs(4, 3, 3, 3)  # filters, OIHW
ints = xnor_conv2d(A, Bf)
floats, _ = ops.conv2d_forward(A, Bf)
print(ints.dtype, ints.shape, "\n", ints[0, 0])
np.testing.assert_array_equal(ints, floats)  # exact: integers against floats holding integers

# %% [markdown]
# Its fast twin, `abcref.fast.xnor.xnor_conv2d`, computes the same integers faster: it packs each pixel's channels
# into words once, gathers the words of every receptive field (an im2col of words, 64× smaller than an im2col of
# floats) and runs the XOR/popcount in cache-sized blocks on a thread pool. The compiled layers of section 5 run on it;
# tests check it against the reference with exact equality, as here:

# %%
from abcref.fast.xnor import xnor_conv2d as fast_xnor_conv2d

np.testing.assert_array_equal(fast_xnor_conv2d(A, Bf, stride=(1, 1), padding=(0, 0)), ints)
print("fast twin == reference")

# %% [markdown]
# ## 4. Zero padding: a bit cannot hold 0
#
# The float network pads its binary activations with **0** (ordinary zero padding, `pad_value=0`). A packed bit can
# only say +1 or −1. Three ways out (conventions row 10):
#
# * **Pad with a sign** (`pad_value=+1` or `-1`), as hardware engines do — and train the float graph with the same
#   padding (`ABCConv2d(..., pad_value=-1)`), so nothing needs correcting.
# * **Leave the border taps out of the count**: a zero adds nothing to a dot product. The reference
#   `xnor_conv2d` does this, with a mask of the taps inside the image: $\operatorname{popcount}(\text{inside}) -
#   2\,\operatorname{popcount}((a' \oplus b') \wedge \text{inside})$.
# * **Pack the border as +1 and subtract what it added**, as the fast twin and the compiled engine do, so that every
#   pixel is packed the same way. At output pixel $(y, x)$ the border taps contributed
#   $\sum_{(i,j)\text{ on border}} \sum_c w_{o,c,i,j}$, so
#
# $$\operatorname{conv}_0 = \operatorname{conv}_{+1} - \text{corr}, \qquad
# \text{corr}_{o,y,x} = \sum_{i,j} \Big(\sum_c w_{o,c,i,j}\Big)\, \text{border}[y s_h + i,\ x s_w + j].$$
#
# The correction depends on the filters and the image size only (not on the batch), is an exact integer, and is
# non-zero only near the edges.
#
# **Predict first.** Take 3×3 filters over $C = 3$ channels and padding 1. At which output pixels is the correction
# non-zero, and what is the largest value it can possibly take at a corner pixel? (Count the border taps of a corner
# window.) Run the cell:

# %%
pad_plus, _ = ops.conv2d_forward(A, Bf, padding=1, pad_value=1.0)
pad_zero, _ = ops.conv2d_forward(A, Bf, padding=1)
corr = zero_padding_correction(Bf, (5, 5), padding=1)
print("correction for filter 0:\n", corr[0])
print(f"non-zero at {np.count_nonzero(corr[0])} of {corr[0].size} output pixels (the frame); "
      f"largest possible at a corner: 5 border taps x C = 3 channels = {5 * 3}; "
      f"largest here, over the 4 filters: {np.abs(corr).max()}")
np.testing.assert_array_equal(pad_plus - corr[None], pad_zero)
for pad_value in (0, 1, -1):
    ref, _ = ops.conv2d_forward(A, Bf, padding=1, pad_value=float(pad_value))
    np.testing.assert_array_equal(xnor_conv2d(A, Bf, padding=1, pad_value=pad_value), ref)
    fast = fast_xnor_conv2d(A, Bf, stride=(1, 1), padding=(1, 1), pad_value=pad_value)
    np.testing.assert_array_equal(fast, ref)
print("xnor_conv2d (masked border) and its fast twin (+1 border, corrected) == float conv for pad_value 0, +1 and -1")

# %% [markdown]
# **Pitfall.** Packing the border as +1 *without* the correction gives a convolution that is right in the interior and
# wrong on a one-pixel frame — easy to miss on large images where the frame is a small fraction of the output, and
# fatal for bit-exactness.
#
# ### Exercise 2: the zero-padding correction by hand
#
# Write `padding_correction(filters, height, width, padding)` for stride 1: `filters` is a float array of ±1 with
# shape $(O, C, k, k)$, the input image is `height` × `width`, and the result is `corr` of shape $(O, H_o, W_o)$ such that
# (+1-padded convolution) − `corr` = (zero-padded convolution), the formula above. Do not call
# `zero_padding_correction` (the checker compares against it); loops are fine, and so is any other exact route.

# %%
def padding_correction(filters, height, width, padding):
    """What a +1 border adds to a zero-padded stride-1 convolution, shape (O, Ho, Wo)."""
    # Your code here (a few lines).
    return None


bits.check_padding_correction(padding_correction)

# %% [markdown]
#
# ## 5. A real ABC layer, bit-exact
#
# `abcref.compiler.compile_layer(layer)` turns a trained `ABCConv2d` into a `PackedABCConv2d`: the $M$ bases packed once and stacked,
# $\alpha$, $\beta$, and one comparator per activation $R \ge 0.5 - v_n$. Its `integer_convolutions(x)` are the $M \times N$ exact
# integers $\operatorname{Conv}(B_m, A_n)$ of eq. 12. Take a layer with 70 input channels (so each pixel needs two words,
# the second mostly tail) and check all nine convolutions against float convolutions of the same ±1 tensors:

# %%
layer = ABCConv2d(70, 32, 3, M=3, N=3, padding=1, rng=np.random.default_rng(1))
layer.eval()
x = rng.standard_normal((4, 70, 10, 10)).astype(np.float32)  # a batch-normalised input R
compiled = compile_layer(layer)
dots = compiled.integer_convolutions(x)  # (M, N, batch, O, Ho, Wo), int64
print("integer convolutions:", dots.shape, dots.dtype)

B, alphas = layer.weight_bases()  # (M, O, C, kh, kw) of +-1, as the float layer uses them
A_n = binarize_activations(x, layer.params["v"])  # (N, batch, C, H, W) of +-1
for m in range(3):
    for n in range(3):
        ref, _ = ops.conv2d_forward(A_n[n].astype(np.float64), B[m].astype(np.float64), padding=1)
        np.testing.assert_array_equal(dots[m, n], ref)
print("all 9 binary convolutions are exactly equal to the float ones")

# %% [markdown]
# The layer output $\sum_{m,n} \alpha_m \beta_n \operatorname{Conv}(B_m, A_n)$ is the only floating-point step. The float layer
# computes the same quantity as one convolution of $\tilde W$ with $\tilde R$, so the two round differently: they agree to
# float32 rounding, not bit for bit (tutorial 6 shows that the *predictions* of a whole model agree exactly).

# %%
float_out = layer.forward(x)
bit_out = compiled.forward(x)
scale = np.max(np.abs(float_out))
print(f"max |float - bits| / max |out| = {np.max(np.abs(float_out - bit_out)) / scale:.1e}  (float32 eps = {np.finfo(np.float32).eps:.1e})")

# %% [markdown]
# ## 6. Memory and operation counts
#
# Per weight, a packed base costs 1 bit against 32 for float32, so $M$ bases cost $M/32$ of the float layer — plus the
# tail bits when $C$ is not a multiple of 64.
#
# **Predict first.** This layer has $C = 70$ input channels and $M = 3$ bases. How many times smaller than its float32
# weights are the packed bases: $32/3 \approx 10.7$, more, or less? Run the cell:

# %%
float_bytes = layer.weight.nbytes
packed_bytes = compiled.base_words.nbytes
print(f"float32 weights: {float_bytes} bytes; M=3 packed bases: {packed_bytes} bytes "
      f"({float_bytes / packed_bytes:.1f}x smaller; with 64 channels it would be {32 / 3:.1f}x)")

# %% [markdown]
# `abcref.summary(model, input_shape)` (Larq's `summary`) counts every layer twice. Under **float model**: its parameters,
# memory and multiply-accumulates as trained. Under **packed model**: the values kept as floats ($\alpha$, $\beta$,
# thresholds, and every parameter of a full-precision layer), the 1-bit parameters (the bases), the memory, the binary
# MACs (xnor/popcount) and the float MACs left (the $\alpha\beta$ combination, the full-precision first and last layers,
# batch norms that could not be folded). Here is the default digits CNN with $M = N = 3$ (tutorial 5 trains it).
#
# **Predict first.** What fraction of its multiply-accumulates become xnor/popcount, and is the whole model closer
# to 32× or to 3× smaller? Read the table, then the totals below it:

# %%
model = build_model({"arch": "small_cnn", "conv": {"kind": "abc", "M": 3, "N": 3}, "seed": 0})
abcref.summary(model, (1, 8, 8))

# %%
totals = summary_totals(model_summary(model, (1, 8, 8)))  # the same counts as data
print(f"{100 * totals['binary_fraction']:.1f}% of the packed model's multiply-accumulates are xnor/popcount; "
      f"memory {totals['memory_ratio']:.1f}x smaller")

# %% [markdown]
# The memory ratio is far from 32 because the full-precision first and last layers, $\alpha$, $\beta$, thresholds, and the
# tail bits of 32-channel inputs stay; in a large network the binary layers dominate and the ratio approaches
# $32/M$. Speed in NumPy is another matter: the compiled layer runs $M \cdot N$ popcount convolutions where the float
# training graph runs one BLAS convolution, so here the packed form is about *correctness* and *memory*, and about
# showing the exact operations a hardware engine runs (`benchmarks/bench_bitpack.py` measures it).
#
# **Take-aways**
#
# * $a \cdot b = K - 2\,\operatorname{popcount}(a' \oplus b')$; zero tail bits in both operands keep it exact for any $K$.
# * Zero padding needs an exact integer correction (or train with ±1 padding).
# * The $M \times N$ integer convolutions of a compiled layer equal the float ones exactly; only the final
#   $\alpha\beta$ combination is floating point.
#
# Next: [tutorial 5](05_training.ipynb) trains ABC-Net; [tutorial 6](06_inference_with_bits.ipynb) compiles a trained model.
