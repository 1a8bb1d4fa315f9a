"""Tests of abcref.gradcheck: the central-difference gradient and the relative error."""

import numpy as np
import pytest

from abcref.gradcheck import check_gradient, numerical_gradient, relative_error


def test_numerical_gradient_matches_analytic_function():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    dout = rng.standard_normal((3, 4))
    # f(x) = sin(x) * x**2, f'(x) = cos(x) x^2 + 2 x sin(x)
    numeric = numerical_gradient(lambda v: np.sin(v) * v**2, x, dout)
    analytic = dout * (np.cos(x) * x**2 + 2 * x * np.sin(x))
    assert relative_error(numeric, analytic) < 1e-8


def test_numerical_gradient_of_scalar_function_and_closure():
    rng = np.random.default_rng(1)
    a = rng.standard_normal(5)
    x = rng.standard_normal(5)
    # scalar f read through a closure (the argument is ignored)
    numeric = numerical_gradient(lambda _: float(a @ x) ** 2, x, 1.5)
    assert relative_error(numeric, 1.5 * 2 * (a @ x) * a) < 1e-8


def test_numerical_gradient_restores_x_even_when_f_raises():
    x = np.array([1.0, 2.0, 3.0])
    before = x.copy()
    numerical_gradient(lambda v: v**3, x, np.ones(3))
    np.testing.assert_array_equal(x, before)

    def boom(v):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(boom, x, np.ones(3))
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_rejects_bad_input():
    with pytest.raises(TypeError, match="x must have dtype float64"):
        numerical_gradient(lambda v: v, np.ones(2, dtype=np.float32), np.ones(2))
    with pytest.raises(ValueError, match="h must be > 0, got 0.0"):
        numerical_gradient(lambda v: v, np.ones(2), np.ones(2), h=0.0)
    with pytest.raises(ValueError, match=r"dout must have the shape of f\(x\)"):
        numerical_gradient(lambda v: v, np.ones(2), np.ones(3))


def test_relative_error_definition():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    # max|a-b| = 1, max(|a|+|b|) = 5
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 3.0])) == pytest.approx(0.2)
    assert relative_error(2.0, 2.0) == 0.0
    with pytest.raises(ValueError, match="a and b must have one shape"):
        relative_error(np.ones(2), np.ones(3))


def test_check_gradient_passes_and_fails():
    x = np.array([0.3, -0.7, 1.1])
    err = check_gradient(np.exp, x, np.ones(3), np.exp(x), name="dx")
    assert err < 1e-8
    with pytest.raises(AssertionError, match="dx: relative error .* exceeds tol"):
        check_gradient(np.exp, x, np.ones(3), 1.01 * np.exp(x), name="dx")
    with pytest.raises(ValueError, match="analytic must have the shape of x"):
        check_gradient(np.exp, x, np.ones(3), np.ones(2))
