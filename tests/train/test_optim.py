"""Tests of abcref.train.optim: SGD and Adam steps by hand, state dicts, weight decay."""

import numpy as np
import pytest

from abcref.nn.module import Module
from abcref.train import SGD, Adam, decay_all, make_optimizer


class Params(Module):
    """A (1, 3) weight and a bias and nothing else: a target for optimizers."""

    def __init__(self, dtype=np.float64):
        super().__init__()
        self.add_param("weight", np.array([[1.0, -2.0, 3.0]], dtype=dtype))
        self.add_param("bias", np.array([0.5, -0.5], dtype=dtype))


G1 = {"weight": np.array([[0.1, 0.2, -0.3]]), "bias": np.array([1.0, -1.0])}
G2 = {"weight": np.array([[-0.4, 0.0, 0.6]]), "bias": np.array([0.5, 2.0])}


def run(opt, model, grads_seq):
    for grads in grads_seq:
        model.zero_grad()
        for k, g in grads.items():
            model.grads[k] += g.astype(model.params[k].dtype)
        opt.step()


def test_sgd_momentum_two_steps_by_hand():
    model = Params()
    w0 = model.params["weight"].copy()
    opt = SGD(model, lr=0.1, momentum=0.9, weight_decay=0.01)
    run(opt, model, [G1, G2])
    # weight is decayed (default filter), bias is not.
    d1 = G1["weight"] + 0.01 * w0
    w1 = w0 - 0.1 * d1
    buf = 0.9 * d1 + (G2["weight"] + 0.01 * w1)
    w2 = w1 - 0.1 * buf
    np.testing.assert_allclose(model.params["weight"], w2, rtol=0, atol=1e-15)
    b2 = np.array([0.5, -0.5]) - 0.1 * G1["bias"] - 0.1 * (0.9 * G1["bias"] + G2["bias"])
    np.testing.assert_allclose(model.params["bias"], b2, rtol=0, atol=1e-15)


def test_sgd_nesterov_and_plain():
    model = Params()
    w0 = model.params["weight"].copy()
    opt = SGD(model, lr=0.1, momentum=0.5, nesterov=True)
    run(opt, model, [G1, G2])
    w1 = w0 - 0.1 * (G1["weight"] + 0.5 * G1["weight"])
    buf2 = 0.5 * G1["weight"] + G2["weight"]
    w2 = w1 - 0.1 * (G2["weight"] + 0.5 * buf2)
    np.testing.assert_allclose(model.params["weight"], w2, rtol=0, atol=1e-15)

    plain = Params()
    run(SGD(plain, lr=0.1, momentum=0.0), plain, [G1])
    np.testing.assert_array_equal(plain.params["weight"], w0 - 0.1 * G1["weight"])


def test_adam_two_steps_by_hand():
    model = Params()
    w0 = model.params["weight"].copy()
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    run(Adam(model, lr=lr, betas=(b1, b2), eps=eps), model, [G1, G2])
    m = (1 - b1) * G1["weight"]
    v = (1 - b2) * G1["weight"] ** 2
    w1 = w0 - lr * (m / (1 - b1)) / (np.sqrt(v / (1 - b2)) + eps)
    m = b1 * m + (1 - b1) * G2["weight"]
    v = b2 * v + (1 - b2) * G2["weight"] ** 2
    w2 = w1 - lr * (m / (1 - b1**2)) / (np.sqrt(v / (1 - b2**2)) + eps)
    np.testing.assert_allclose(model.params["weight"], w2, rtol=1e-12, atol=1e-15)


def test_adam_coupled_vs_decoupled_weight_decay():
    wd, lr = 0.1, 0.01
    coupled = Params()
    w0 = coupled.params["weight"].copy()
    run(Adam(coupled, lr=lr, weight_decay=wd, decay_filter=decay_all), coupled, [G1])
    g = G1["weight"] + wd * w0
    # first Adam step: m_hat / sqrt(v_hat) = sign(g) (up to eps)
    expected = w0 - lr * g / (np.abs(g) + 1e-8)
    np.testing.assert_allclose(coupled.params["weight"], expected, rtol=1e-12)

    decoupled = Params()
    run(Adam(decoupled, lr=lr, weight_decay=wd, decoupled_weight_decay=True), decoupled, [G1])
    g = G1["weight"]
    expected = w0 * (1 - lr * wd) - lr * g / (np.abs(g) + 1e-8)
    np.testing.assert_allclose(decoupled.params["weight"], expected, rtol=1e-12)
    # bias is excluded by the default filter
    np.testing.assert_allclose(
        decoupled.params["bias"], np.array([0.5, -0.5]) - lr * np.sign(G1["bias"]), rtol=1e-7
    )


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_float32_stays_float32_and_updates_in_place(cls):
    model = Params(np.float32)
    ref = model.params["weight"]
    run(cls(model, lr=0.1, weight_decay=0.1), model, [G1, G2])
    assert model.params["weight"] is ref
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
    np.testing.assert_array_equal(a.params["weight"], b.params["weight"])
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
    with pytest.raises(TypeError, match="decoupled_weight_decay must be a bool"):
        SGD(model, lr=0.1, decoupled_weight_decay=1)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        make_optimizer("rmsprop", model, lr=0.1)
    assert isinstance(make_optimizer("adam", model, lr=0.1), Adam)


def test_default_decay_filter_decays_conv_and_linear_weights_only():
    from abcref.nn import build_model
    from abcref.train import decay_weights_only

    model = build_model({"arch": "small_cnn", "widths": [4, 4], "conv": "fp"})
    decayed = sorted(n for n, p in model.named_parameters() if decay_weights_only(n, p))
    assert decayed == ["conv1.weight", "conv2.weight", "fc.weight"]  # not bn*.weight (gamma)
    abc = build_model(
        {"arch": "small_cnn", "widths": [4, 4], "conv": {"kind": "abc", "weight_ste": "identity"}}
    )
    decayed = sorted(n for n, p in abc.named_parameters() if decay_weights_only(n, p))
    assert decayed == ["conv1.weight", "conv2.weight", "fc.weight"]  # not v, beta
    assert all(decay_all(n, p) for n, p in abc.named_parameters())

    opt = SGD(abc, lr=0.1, momentum=0.0, weight_decay=0.5)
    before = {n: p.copy() for n, p in abc.named_parameters()}
    abc.zero_grad()
    opt.step()  # zero gradients: only the decay moves parameters
    for name, p in abc.named_parameters():
        expected = before[name] * (1 - 0.1 * 0.5) if name in decayed else before[name]
        np.testing.assert_allclose(p, expected, rtol=1e-6, err_msg=name)


def test_the_step_uses_lr_times_lr_scale_and_lr_is_never_changed():
    model = Params()
    w0 = model.params["weight"].copy()
    opt = SGD(model, lr=0.1, momentum=0.0)
    opt.lr_scale = 0.25
    assert opt.current_lr == 0.025
    run(opt, model, [G1])
    np.testing.assert_array_equal(model.params["weight"], w0 - 0.025 * G1["weight"])
    assert opt.lr == 0.1 and opt.state_dict()["hyper"]["lr"] == 0.1


def test_sgd_decoupled_weight_decay_by_hand():
    model = Params()
    w0 = model.params["weight"].copy()
    lr, wd, mu = 0.1, 0.01, 0.9
    opt = SGD(model, lr=lr, momentum=mu, weight_decay=wd, decoupled_weight_decay=True)
    opt.lr_scale = 0.5  # the decay follows the scheduled rate, as AdamW's does
    run(opt, model, [G1, G2])
    w1 = w0 * (1 - 0.5 * lr * wd) - 0.5 * lr * G1["weight"]
    buf = mu * G1["weight"] + G2["weight"]  # the decay stays out of the momentum buffer
    w2 = w1 * (1 - 0.5 * lr * wd) - 0.5 * lr * buf
    np.testing.assert_allclose(model.params["weight"], w2, rtol=0, atol=1e-15)
    assert opt.hyper()["decoupled_weight_decay"] is True


def test_non_finite_optimizer_state_is_refused_and_nothing_written():
    model = Params()
    opt = Adam(model, lr=0.1)
    run(opt, model, [G1])
    state = opt.state_dict()
    bad = {**state, "arrays": dict(state["arrays"])}
    bad["arrays"]["exp_avg/bias"] = np.array([np.inf, 0.0])
    fresh = Adam(Params(), lr=0.1)
    with pytest.raises(ValueError, match=r"state\['exp_avg/bias'\] holds NaN or Inf"):
        fresh.load_state_dict(bad)
    assert fresh.step_count == 0 and not fresh.state["exp_avg"]["weight"].any()


def _abc(weight_ste):
    from abcref.nn import build_model

    conv = {"kind": "abc", "M": 2, "N": 2, "weight_ste": weight_ste}
    return build_model({"arch": "small_cnn", "widths": [4, 4], "conv": conv})


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda m: SGD(m, lr=0.1, weight_decay=5e-4), "coupled L2 decay would outweigh it"),
        (
            lambda m: SGD(m, lr=0.1, weight_decay=5e-4, decoupled_weight_decay=True),
            "decay under SGD would outweigh it",
        ),
        (lambda m: Adam(m, weight_decay=5e-4), "coupled L2 decay would outweigh it"),
    ],
)
def test_weight_decay_is_refused_where_the_paper_reading_makes_it_wrong(make, match):
    with pytest.raises(ValueError, match=rf"weight_decay on 'conv2.weight' refused: .*{match}"):
        make(_abc("paper"))


def test_weight_decay_is_allowed_where_it_is_right():
    Adam(_abc("paper"), weight_decay=5e-4, decoupled_weight_decay=True)  # AdamW
    SGD(_abc("paper"), lr=0.1)  # no decay
    for reading in ("identity", "sum"):  # sum: gradient scale ~0.05, decay stays small
        SGD(_abc(reading), lr=0.1, weight_decay=5e-4)
        Adam(_abc(reading), weight_decay=5e-4)
    skip_abc = lambda name, p: name != "conv2.weight" and p.ndim >= 2  # noqa: E731
    opt = SGD(_abc("paper"), lr=0.1, weight_decay=5e-4, decay_filter=skip_abc)
    assert opt.weight_decay == 5e-4
