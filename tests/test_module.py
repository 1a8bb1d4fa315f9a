import numpy as np
import pytest

from abcref.nn.module import Module, Sequential


class Scale(Module):
    def __init__(self, n):
        super().__init__()
        self.add_param("s", np.ones(n))
        self.buffers["count"] = np.zeros(1)

    def forward(self, x):
        self.x = x
        return x * self.params["s"]

    def backward(self, dout):
        self.grads["s"] += (dout * self.x).sum(axis=0)
        return dout * self.params["s"]


def test_sequential_names_state_roundtrip_and_modes():
    model = Sequential(Scale(3), Scale(3))
    names = [n for n, _, _ in model.named_parameters()]
    assert names == ["0.s", "1.s"]
    assert [n for n, _ in model.named_buffers()] == ["0.count", "1.count"]
    assert model.num_parameters() == 6
    x = np.arange(6.0).reshape(2, 3)
    model[0].params["s"][...] = 2.0
    out = model.forward(x)
    np.testing.assert_array_equal(out, 2 * x)
    dx = model.backward(np.ones_like(out))
    np.testing.assert_array_equal(dx, 2 * np.ones_like(x))
    np.testing.assert_array_equal(model[1].grads["s"], (2 * x).sum(0))
    model.zero_grad()
    assert all(not g.any() for _, _, g in model.named_parameters())
    state = model.state_dict()
    other = Sequential(Scale(3), Scale(3))
    ref = other[0].params["s"]
    other.load_state_dict(state)
    assert other[0].params["s"] is ref  # written in place
    np.testing.assert_array_equal(ref, 2.0)
    model.eval()
    assert not model.training and not model[1].training
    model.train()
    assert model[0].training


def test_load_state_dict_errors():
    model = Sequential(Scale(3))
    with pytest.raises(ValueError, match="missing \\['0.count'\\]"):
        model.load_state_dict({"0.s": np.ones(3)})
    with pytest.raises(ValueError, match="has shape \\(4,\\), the model expects \\(3,\\)"):
        model.load_state_dict({"0.s": np.ones(4), "0.count": np.zeros(1)})
    with pytest.raises(TypeError, match="has dtype float32"):
        model.load_state_dict({"0.s": np.ones(3, np.float32), "0.count": np.zeros(1)})


def test_failed_load_state_dict_leaves_the_model_untouched():
    model = Sequential(Scale(3), Scale(3))
    before = model.state_dict()
    bad = {"0.s": np.full(3, 7.0), "0.count": np.ones(1), "1.s": np.ones(4), "1.count": np.ones(1)}
    with pytest.raises(ValueError, match="1.s"):
        model.load_state_dict(bad)
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
