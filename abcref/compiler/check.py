"""Check that a compiled bit model predicts what its float model predicts."""

from __future__ import annotations

import numpy as np

from abcref.compiler.compile import BitABCConv2d, compile_model

#: Logit difference above which an image counts as having a flipped binary
#: activation: float rounding alone moves logits by ~1e-6 (float32).
FLIP_TOLERANCE = 1e-3


def bits_check(model, x, *, batch_size: int = 500) -> dict:
    """Compare the float model with its bit-packed compiled form on ``x``.

    Returns
    -------
    dict
        ``{"layers": number of compiled binary ABC layers, "images",
        "identical": bool (all top-1 predictions equal), "differ": number of
        differing predictions, "max_logit_diff": float, "images_flipped":
        images whose logits differ by more than FLIP_TOLERANCE, "top1_bits":
        predictions of the packed model (ndarray)}``.

    Notes
    -----
    The integer popcounts are exact, but the float model and the compiled
    one round differently (one float conv against alpha/beta-weighted
    integer sums; batch norm folded into comparator thresholds), so an
    activation lying within rounding of a threshold can binarise the other
    way, moving that image's logits by ~1e-2. ``images_flipped`` counts
    such images; the check that matters is that predictions are identical.
    """
    model.eval()
    compiled = compile_model(model)
    layers = sum(isinstance(m, BitABCConv2d) for _, m in compiled.named_modules())
    float_pred, bits_pred, diffs = [], [], []
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        a, b = model.forward(xb), compiled.forward(xb)
        float_pred.append(np.argmax(a, axis=1))
        bits_pred.append(np.argmax(b, axis=1))
        diffs.append(np.max(np.abs(a - b), axis=1))
    float_pred, bits_pred = np.concatenate(float_pred), np.concatenate(bits_pred)
    diffs = np.concatenate(diffs) if diffs else np.zeros(0)
    differ = int(np.count_nonzero(float_pred != bits_pred))
    return {
        "layers": layers,
        "images": len(x),
        "identical": differ == 0,
        "differ": differ,
        "max_logit_diff": float(diffs.max(initial=0.0)),
        "images_flipped": int(np.count_nonzero(diffs > FLIP_TOLERANCE)),
        "top1_bits": bits_pred,
    }


def format_bits_check(check: dict) -> str:
    if check["layers"] == 0:
        return "bits: the model has no binary ABC layer (nothing to pack); predictions identical"
    verdict = (
        "identical predictions"
        if check["identical"]
        else f"{check['differ']} of {check['images']} predictions DIFFER"
    )
    return (
        f"bits: {check['layers']} ABC layers compiled to xnor/popcount; {verdict} on "
        f"{check['images']} images (max |logit difference| {check['max_logit_diff']:.2e}; "
        f"{check['images_flipped']} images with an activation binarised the other way at a "
        "threshold, within float rounding)"
    )
