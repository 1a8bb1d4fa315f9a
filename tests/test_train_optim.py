import numpy as np
import pytest

from abcref.nn.module import Module
from abcref.train import SGD, Adam, decay_all, make_optimizer


class Params(Module):
    """Two named parameters and nothing else: a target for optimizers."""

    def __init__(self, dtype=np.float64):
        super().__init__()
        self.add_param("W", np.array([1.0, -2.0, 3.0], dtype=dtype))
        self.add_param("b", np.array([0.5, -0.5], dtype=dtype))


G1 = {"W": np.array([0.1, 0.2, -0.3]), "b": np.array([1.0, -1.0])}
G2 = {"W": np.array([-0.4, 0.0, 0.6]), "b": np.array([0.5, 2.0])}


def run(opt, model, grads_seq):
    for grads in grads_seq:
        model.zero_grad()
        for k, g in grads.items():
            model.grads[k] += g.astype(model.params[k].dtype)
        opt.step()


def test_sgd_momentum_two_steps_by_hand():
    model = Params()
    w0 = model.params["W"].copy()
    opt = SGD(model, lr=0.1, momentum=0.9, weight_decay=0.01)
    run(opt, model, [G1, G2])
    # W is decayed (default filter), b is not.
    d1 = G1["W"] + 0.01 * w0
    w1 = w0 - 0.1 * d1
    buf = 0.9 * d1 + (G2["W"] + 0.01 * w1)
    w2 = w1 - 0.1 * buf
    np.testing.assert_allclose(model.params["W"], w2, rtol=0, atol=1e-15)
    b2 = np.array([0.5, -0.5]) - 0.1 * G1["b"] - 0.1 * (0.9 * G1["b"] + G2["b"])
    np.testing.assert_allclose(model.params["b"], b2, rtol=0, atol=1e-15)


def test_sgd_nesterov_and_plain():
    model = Params()
    w0 = model.params["W"].copy()
    opt = SGD(model, lr=0.1, momentum=0.5, nesterov=True)
    run(opt, model, [G1, G2])
    w1 = w0 - 0.1 * (G1["W"] + 0.5 * G1["W"])
    buf2 = 0.5 * G1["W"] + G2["W"]
    w2 = w1 - 0.1 * (G2["W"] + 0.5 * buf2)
    np.testing.assert_allclose(model.params["W"], w2, rtol=0, atol=1e-15)

    plain = Params()
    run(SGD(plain, lr=0.1, momentum=0.0), plain, [G1])
    np.testing.assert_array_equal(plain.params["W"], w0 - 0.1 * G1["W"])


def test_adam_two_steps_by_hand():
    model = Params()
    w0 = model.params["W"].copy()
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    run(Adam(model, lr=lr, betas=(b1, b2), eps=eps), model, [G1, G2])
    m = (1 - b1) * G1["W"]
    v = (1 - b2) * G1["W"] ** 2
    w1 = w0 - lr * (m / (1 - b1)) / (np.sqrt(v / (1 - b2)) + eps)
    m = b1 * m + (1 - b1) * G2["W"]
    v = b2 * v + (1 - b2) * G2["W"] ** 2
    w2 = w1 - lr * (m / (1 - b1**2)) / (np.sqrt(v / (1 - b2**2)) + eps)
    np.testing.assert_allclose(model.params["W"], w2, rtol=1e-12, atol=1e-15)


def test_adam_coupled_vs_decoupled_weight_decay():
    wd, lr = 0.1, 0.01
    coupled = Params()
    w0 = coupled.params["W"].copy()
    run(Adam(coupled, lr=lr, weight_decay=wd, decay_filter=decay_all), coupled, [G1])
    g = G1["W"] + wd * w0
    # first Adam step: m_hat / sqrt(v_hat) = sign(g) (up to eps)
    expected = w0 - lr * g / (np.abs(g) + 1e-8)
    np.testing.assert_allclose(coupled.params["W"], expected, rtol=1e-12)

    decoupled = Params()
    run(Adam(decoupled, lr=lr, weight_decay=wd, decoupled_weight_decay=True), decoupled, [G1])
    g = G1["W"]
    expected = w0 * (1 - lr * wd) - lr * g / (np.abs(g) + 1e-8)
    np.testing.assert_allclose(decoupled.params["W"], expected, rtol=1e-12)
    # b is excluded by the default filter
    np.testing.assert_allclose(
        decoupled.params["b"], np.array([0.5, -0.5]) - lr * np.sign(G1["b"]), rtol=1e-7
    )


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_float32_stays_float32_and_updates_in_place(cls):
    model = Params(np.float32)
    ref = model.params["W"]
    run(cls(model, lr=0.1, weight_decay=0.1), model, [G1, G2])
    assert model.params["W"] is ref
    assert ref.dtype == np.float32
    assert all(a.dtype == np.float32 for a in cls(model, lr=0.1).state_dict()["arrays"].values())


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_state_dict_round_trip_continues_bitwise(cls):
    a = Params()
    opt_a = cls(a, lr=0.05)
    run(opt_a, a, [G1])
    state = opt_a.state_dict()
    b = Params()
    b.load_state_dict(a.state_dict())
    opt_b = cls(b, lr=0.05)
    opt_b.load_state_dict(state)
    run(opt_a, a, [G2])
    run(opt_b, b, [G2])
    np.testing.assert_array_equal(a.params["W"], b.params["W"])
    assert opt_b.step_count == 2


def test_state_dict_errors():
    model = Params()
    state = SGD(model, lr=0.1).state_dict()
    with pytest.raises(ValueError, match="is for 'SGD'"):
        Adam(model, lr=0.1).load_state_dict(state)
    bad = {**state, "arrays": {}}
    with pytest.raises(ValueError, match="missing"):
        SGD(model, lr=0.1).load_state_dict(bad)
    bad = {**state, "arrays": {k: v[:1] for k, v in state["arrays"].items()}}
    with pytest.raises(ValueError, match="shape"):
        SGD(model, lr=0.1).load_state_dict(bad)
    bad = {**state, "arrays": {k: v.astype(np.float32) for k, v in state["arrays"].items()}}
    with pytest.raises(TypeError, match="dtype"):
        SGD(model, lr=0.1).load_state_dict(bad)


def test_bad_arguments():
    model = Params()
    with pytest.raises(ValueError, match="lr must be > 0"):
        SGD(model, lr=0.0)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        SGD(model, lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="nesterov=True requires momentum > 0"):
        SGD(model, lr=0.1, momentum=0.0, nesterov=True)
    with pytest.raises(ValueError, match="weight_decay must be >= 0"):
        Adam(model, weight_decay=-1.0)
    with pytest.raises(ValueError, match=r"betas\[1\] must be in"):
        Adam(model, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="eps must be > 0"):
        Adam(model, eps=0.0)
    with pytest.raises(TypeError, match="model must be an abcref.nn.Module"):
        SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        make_optimizer("rmsprop", model, lr=0.1)
    assert isinstance(make_optimizer("adam", model, lr=0.1), Adam)
