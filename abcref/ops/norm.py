"""Batch normalisation over the channels of NCHW activations."""

from __future__ import annotations

import numpy as np

from abcref._checks import check_array, check_dout, check_real, check_same_dtype, check_shape

__all__ = ["batchnorm2d_forward", "batchnorm2d_backward"]

_AXES = (0, 2, 3)


def _per_channel(v: np.ndarray) -> np.ndarray:
    return v.reshape(1, -1, 1, 1)


def batchnorm2d_forward(
    x, gamma, beta, *, running_mean, running_var, training, momentum=0.1, eps=1e-5
):
    """Batch normalisation, ``gamma * (x - mean) / sqrt(var + eps) + beta``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64
    gamma, beta : ndarray, shape (C,)
        Scale and shift.
    running_mean, running_var : ndarray, shape (C,)
        Running statistics (``running_var >= 0``). Never mutated.
    training : bool
        True: normalise with the batch statistics (biased variance over
        N, H, W) and update the running statistics. False: normalise with
        the running statistics.
    momentum : float in [0, 1]
        ``new = (1 - momentum) * old + momentum * batch_statistic``.
    eps : float > 0
        Added to the variance.

    Returns
    -------
    out : ndarray, shape (N, C, H, W)
    cache : dict
        ``"running_mean"``, ``"running_var"``: the updated statistics after
        a training call, unchanged copies in eval mode. For backward:
        ``"xhat"`` the normalised input, ``"inv_std"`` (C,), ``"gamma"``,
        ``"training"``.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes, ``training`` not a bool.
    ValueError
        Wrong ndim, parameter or statistic shape, NaN/Inf, negative
        running variance, momentum outside [0, 1], eps <= 0, or a single
        value per channel in training mode.

    Notes
    -----
    As PyTorch: the batch is normalised with the biased variance
    (divide by ``m = N*H*W``), while ``running_var`` is updated with the
    unbiased one (divide by ``m - 1``). In the paper BN precedes every
    binary activation (Sec. 3.3) and its folding into thresholds is
    Sec. 5.3.
    """
    check_array(x, "x", ndim=4)
    c = x.shape[1]
    named = {
        "gamma": gamma,
        "beta": beta,
        "running_mean": running_mean,
        "running_var": running_var,
    }
    for name, v in named.items():
        check_array(v, name, ndim=1)
        check_shape(v, name, (c,))
    check_same_dtype(x=x, **named)
    if np.any(running_var < 0):
        raise ValueError(f"running_var must be >= 0, got min {running_var.min()}")
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"training must be a bool, got {training!r}")
    momentum = check_real(momentum, "momentum")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    eps = check_real(eps, "eps")
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")

    m = x.shape[0] * x.shape[2] * x.shape[3]
    dt = x.dtype.type
    if training:
        if m < 2:
            raise ValueError(
                f"training batch norm needs more than 1 value per channel, got x.shape={x.shape}"
            )
        mean = x.mean(axis=_AXES)
        centred = x - _per_channel(mean)
        var = np.mean(centred * centred, axis=_AXES)
        new_mean = dt(1 - momentum) * running_mean + dt(momentum) * mean
        new_var = dt(1 - momentum) * running_var + dt(momentum) * var * dt(m / (m - 1))
    else:
        centred = x - _per_channel(running_mean)
        var = running_var
        new_mean, new_var = running_mean.copy(), running_var.copy()
    inv_std = (1 / np.sqrt(var + dt(eps))).astype(x.dtype, copy=False)
    xhat = centred * _per_channel(inv_std)
    out = _per_channel(gamma) * xhat + _per_channel(beta)
    cache = {
        "xhat": xhat,
        "inv_std": inv_std,
        "gamma": gamma,
        "training": bool(training),
        "running_mean": new_mean,
        "running_var": new_var,
    }
    return out, cache


def batchnorm2d_backward(dout, cache):
    """Gradients of :func:`batchnorm2d_forward` (training or eval mode).

    Parameters
    ----------
    dout : ndarray, shape (N, C, H, W)
    cache : dict
        From :func:`batchnorm2d_forward`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dgamma, dbeta : ndarray, shape (C,)

    Notes
    -----
    Training mode differentiates through the batch mean and variance:
    ``dx = gamma * inv_std / m * (m * dout - sum(dout) - xhat *
    sum(dout * xhat))`` per channel. Eval mode treats the running
    statistics as constants: ``dx = gamma * inv_std * dout``.
    """
    xhat, inv_std, gamma = cache["xhat"], cache["inv_std"], cache["gamma"]
    check_dout(dout, xhat.shape, xhat.dtype)
    dbeta = dout.sum(axis=_AXES)
    dgamma = np.sum(dout * xhat, axis=_AXES)
    scale = _per_channel(gamma * inv_std)
    if not cache["training"]:
        return dout * scale, dgamma, dbeta
    m = xhat.shape[0] * xhat.shape[2] * xhat.shape[3]
    dt = xhat.dtype.type
    dx = scale * (dout - _per_channel(dbeta / dt(m)) - xhat * _per_channel(dgamma / dt(m)))
    return dx, dgamma, dbeta
