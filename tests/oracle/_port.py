"""An independent NumPy port of the suite's functions, with the classic porting mistakes.

Written from the paper (eqs. 1-12, section 5.3) and the conventions the
manifest records, not from abcref: explicit loops for the convolution and
its gradients, ``numpy.linalg.lstsq`` for eq. (3). With ``mistake=None`` it
passes the whole suite; each entry of :data:`MISTAKES` plants one mistake
that real ports of ABC-Net make, so that the tests can check that the
oracle's hint names it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: mistake -> what the port then does differently.
MISTAKES = {
    "ddof1": "std(W) with Bessel's correction (torch.std's default)",
    "alpha_sum": "eq. (7) with sum(alpha) instead of sum(alpha^2)",
    "printed_mask": "the STE mask 1[0 <= R - v <= 1] of eq. (10) as printed",
    "intercept": "an intercept column in the alpha fit",
    "tie_minus": "ties at the activation threshold go to -1 (R > 0.5 - v)",
    "pad_minus1": "binary activations padded with -1 whatever pad_value says",
    "sign0_plus": "sign(0) = +1 in the weight bases (z >= 0 -> +1)",
    "m1_nan": "the M = 1 shift from -1 + 2 (i - 1) / (M - 1), 0/0 = NaN",
    "m1_minus1": "the M = 1 shift from linspace(-1, 1, 1) = [-1]",
    "scope_swap": "channel-wise alphas where whole-layer is asked, and vice versa",
    "float32": "everything computed in float32",
}


class Port:
    """The port; ``mistake`` is None or a key of :data:`MISTAKES`."""

    def __init__(self, mistake: str | None = None):
        if mistake is not None and mistake not in MISTAKES:
            raise ValueError(f"unknown mistake {mistake!r}")
        self.mistake = mistake

    # -- eqs. (2)-(5) -------------------------------------------------------------------------
    def shifts(self, M, given):
        if given is not None:
            return np.asarray(given, dtype=np.float64)
        if M == 1:
            if self.mistake == "m1_nan":
                with np.errstate(invalid="ignore"):
                    return np.array([-1.0 + 2.0 * np.float64(0) / np.float64(0)])
            if self.mistake == "m1_minus1":
                return np.linspace(-1.0, 1.0, 1)
            return np.zeros(1)
        return np.array([-1.0 + 2.0 * i / (M - 1) for i in range(M)])

    def sign(self, z):
        if self.mistake == "sign0_plus":
            return np.where(z >= 0, 1.0, -1.0)
        return np.where(z > 0, 1.0, -1.0)

    def weights(self, W, M, shifts, ddof, ridge, per_channel):
        if self.mistake == "ddof1":
            ddof = 1
        if self.mistake == "scope_swap":
            per_channel = not per_channel
        u = self.shifts(M, shifts).astype(W.dtype)
        groups = W.reshape(W.shape[0], -1) if per_channel else W.reshape(1, -1)
        B = np.empty((M, *groups.shape), dtype=W.dtype)
        alphas = np.empty((groups.shape[0], M), dtype=W.dtype)
        for g, w in enumerate(groups):
            mean, std = w.mean(), w.std(ddof=ddof)
            for i in range(M):
                B[i, g] = self.sign(w - mean + u[i] * std)
            alphas[g] = self.fit(w, B[:, g].T, ridge)
        B = B.reshape((M, *W.shape))
        return B, (alphas if per_channel else alphas[0])

    def fit(self, w, Bmat, ridge):
        m = Bmat.shape[1]
        work = np.float32 if self.mistake == "float32" else np.float64
        design = Bmat.astype(work)
        if self.mistake == "intercept":
            design = np.hstack([design, np.ones((len(w), 1), dtype=work)])
        extra = np.hstack([np.sqrt(ridge) * np.eye(m), np.zeros((m, design.shape[1] - m))])
        design = np.vstack([design, extra.astype(work)])
        target = np.concatenate([w.astype(work), np.zeros(m, dtype=work)])
        return np.linalg.lstsq(design, target, rcond=None)[0][:m]

    # -- eqs. (8)-(11) ------------------------------------------------------------------------
    def activations(self, R, v):
        out = []
        for vn in v:
            t = R.dtype.type(0.5) - R.dtype.type(vn)
            out.append(np.where(R > t if self.mistake == "tie_minus" else R >= t, 1.0, -1.0))
        return np.stack(out).astype(R.dtype)

    def ste_mask(self, R, vn):
        vn = R.dtype.type(vn)
        if self.mistake == "printed_mask":
            return ((R - vn >= 0) & (R - vn <= 1)).astype(R.dtype)
        return ((R >= -vn) & (R <= R.dtype.type(1) - vn)).astype(R.dtype)

    # -- eq. (12) and its gradients ---------------------------------------------------------------
    @staticmethod
    def _pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    def conv(self, x, w, stride, padding, pad):
        (sh, sw), (ph, pw) = self._pair(stride), self._pair(padding)
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad)
        kh, kw = w.shape[2:]
        ho, wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
        out = np.zeros((x.shape[0], w.shape[0], ho, wo), dtype=x.dtype)
        for i in range(ho):
            for j in range(wo):
                patch = xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
                out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
        return out

    def conv_grads(self, dout, x, w, stride, padding, pad):
        (sh, sw), (ph, pw) = self._pair(stride), self._pair(padding)
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad)
        kh, kw = w.shape[2:]
        dxp, dw = np.zeros_like(xp), np.zeros_like(w)
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                rows, cols = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
                g = dout[:, :, i, j]
                dw += np.tensordot(g, xp[:, :, rows, cols], axes=([0], [0]))
                dxp[:, :, rows, cols] += np.tensordot(g, w, axes=([1], [0]))
        return dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]], dw

    def abc(self, x, W, v, beta, dout, kw):
        B, alphas = self.weights(
            W, kw["M"], kw["shifts"], kw["ddof"], kw["ridge"], kw["per_channel"]
        )
        per_channel = alphas.ndim == 2
        if per_channel:
            W_tilde = np.einsum("om,mo...->o...", alphas, B)
        else:
            W_tilde = np.tensordot(alphas, B, axes=(0, 0))
        pad = -1.0 if (self.mistake == "pad_minus1" and v is not None) else kw["pad_value"]
        pad = x.dtype.type(pad)
        acts = [x] if v is None else list(self.activations(x, v))
        betas = [x.dtype.type(1)] if v is None else list(beta)
        conv_kw = {"stride": kw["stride"], "padding": kw["padding"], "pad": pad}
        per_act = [self.conv(a, W_tilde, **conv_kw) for a in acts]
        out = sum(b * o for b, o in zip(betas, per_act, strict=True))
        result = {"out": out}
        if dout is None:
            return result
        grads = [self.conv_grads(dout, a, W_tilde, **conv_kw) for a in acts]
        G = sum(b * g[1] for b, g in zip(betas, grads, strict=True))
        if kw["weight_ste"] == "identity":
            scale = np.ones(alphas.shape[:-1], dtype=W.dtype)
        elif kw["weight_ste"] == "sum" or self.mistake == "alpha_sum":
            scale = alphas.sum(axis=-1)
        else:
            scale = (alphas * alphas).sum(axis=-1)
        result["dW"] = (scale[:, None, None, None] if per_channel else scale) * G
        if v is None:
            result["dx"] = grads[0][0]
            return result
        dA = [b * g[0] for b, g in zip(betas, grads, strict=True)]
        masks = [self.ste_mask(x, vn) for vn in v]
        result["dx"] = sum(d * m for d, m in zip(dA, masks, strict=True))
        result["dv"] = np.array([(d * m).sum() for d, m in zip(dA, masks, strict=True)])
        result["dbeta"] = np.array([(dout * o).sum() for o in per_act])
        return result

    # -- bit level -----------------------------------------------------------------------------
    def xnor(self, a, b, kw):
        out = self.conv(
            a.astype(np.int64), b.astype(np.int64), kw["stride"], kw["padding"], kw["pad_value"]
        )
        return {"out": out}

    def fold(self, a, b, v, R):
        t = R.dtype.type(0.5) - v  # (N,)
        direction = np.sign(a).astype(np.int8)
        safe = np.where(a == 0, 1, a)
        thresholds = np.where(a[None] == 0, 0, (t[:, None] - b[None]) / safe[None])
        constant = (b[None] >= t[:, None]) & (a[None] == 0)
        bn = a[None, :, None, None] * R + b[None, :, None, None]
        A = np.stack([np.where(bn >= tn, 1, -1) for tn in t]).astype(np.int8)
        return {
            "direction": direction,
            "thresholds": thresholds.astype(a.dtype),
            "constant": constant,
            "A": A,
        }

    # -- one case -------------------------------------------------------------------------------
    def run(self, function, inputs, kw):
        """The outputs of one case (a dict of arrays), or None for an unknown function."""
        if self.mistake == "float32":
            inputs = {
                k: a.astype(np.float32) if a.dtype == np.float64 else a for k, a in inputs.items()
            }
        name = function.rsplit(".", 1)[1]
        if name == "approximate_weights":
            B, alphas = self.weights(
                inputs["W"], kw["M"], kw["shifts"], kw["ddof"], kw["ridge"], kw["per_channel"]
            )
            return {"B": B, "alphas": alphas}
        if name == "binarize_activations":
            return {"A": self.activations(inputs["R"], inputs["v"])}
        if name in ("abc_conv2d_forward", "abc_conv2d_backward"):
            args = (inputs["x"], inputs["W"], inputs.get("v"), inputs.get("beta"))
            return self.abc(*args, inputs.get("dout"), kw)
        if name == "xnor_conv2d":
            return self.xnor(inputs["a"], inputs["b"], kw)
        if name == "fold_batchnorm_exact":
            return self.fold(inputs["a"], inputs["b"], inputs["v"], inputs["R"])
        return None

    def run_suite(self, suite, out) -> None:
        """Write ``out/<case>.npz`` for every case of the suite in ``suite``."""
        suite, out = Path(suite), Path(out)
        out.mkdir(parents=True, exist_ok=True)
        manifest = json.loads((suite / "manifest.json").read_text())
        for case in manifest["cases"]:
            with np.load(suite / case["file"], allow_pickle=False) as data:
                inputs = {k: data[k] for k in case["inputs"]}
            outputs = self.run(case["function"], inputs, case["kwargs"])
            np.savez(out / case["file"], **{k: outputs[k] for k in case["outputs"]})
