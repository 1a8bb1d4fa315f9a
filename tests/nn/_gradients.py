"""Finite differences over every parameter of a module, for tests/nn."""

import numpy as np

from abcref.gradcheck import numerical_gradient, relative_error


def check_every_gradient(module, loss, analytic_dx, x, *, tol=1e-7):
    """Central differences for ``x`` and every parameter of ``module`` (float64).

    ``loss()`` recomputes the scalar loss from ``x`` and the parameters
    (both perturbed in place); ``module.named_grads()`` and ``analytic_dx``
    hold the backward's gradients of that loss. Each gradient's largest
    error is measured against the scale of all gradients together, so a
    gradient that is exactly zero by symmetry (a BN shift cancelled by the
    next training-mode BN) is checked too; each gradient of that scale is
    also checked relative to itself.
    """
    numeric = {"x": numerical_gradient(lambda _: loss(), x, 1.0)}
    analytic = {"x": analytic_dx}
    grads = dict(module.named_grads())
    for name, p in module.named_parameters():
        numeric[name] = numerical_gradient(lambda _: loss(), p, 1.0)
        analytic[name] = grads[name].copy()
    scale = max(float(np.max(np.abs(a) + np.abs(numeric[k]))) for k, a in analytic.items())
    for name, a in analytic.items():
        err = float(np.max(np.abs(a - numeric[name]))) / scale
        assert err < tol, f"{name}: error {err:.2e} relative to the gradients' scale"
        if np.abs(a).max() > 1e-3 * scale:
            assert relative_error(a, numeric[name]) < 1e-6, name
    return sorted(analytic)
