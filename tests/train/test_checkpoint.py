"""Tests of abcref.train.checkpoint: exact round trips and clear errors for damaged files."""

import json
import os

import numpy as np
import pytest

from abcref.nn import build_model
from abcref.train import (
    Adam,
    CheckpointError,
    load_checkpoint,
    load_model,
    restore,
    save_checkpoint,
    train_step,
)
from tests.train._helpers import rewrite, with_metadata

CONFIG = {
    "arch": "small_cnn",
    "widths": [4, 6],
    "pool_after": [1],
    "conv": {"kind": "abc", "M": 2, "N": 2},
}
# A small ABC model with binary activations, for the regression tests at the end.
TINY_ABC = {
    "arch": "small_cnn",
    "widths": [3, 4],
    "pool_after": [1],
    "conv": {"kind": "abc", "M": 2, "N": 2},
}


def trained_model_and_optimizer():
    model = build_model(CONFIG)
    opt = Adam(model, lr=0.01)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 8)
    train_step(model, opt, x, y)
    train_step(model, opt, x, y)
    return model, opt


def test_round_trip_is_exact(tmp_path):
    model, opt = trained_model_and_optimizer()
    rng = np.random.default_rng(5)
    rng.permutation(10)
    path = save_checkpoint(
        tmp_path / "ck.npz", model, optimizer=opt, epoch=3, rng=rng, metrics={"a": 0.5}
    )
    ck = load_checkpoint(path)
    assert ck.epoch == 3 and ck.metadata["metrics"] == {"a": 0.5}
    assert ck.metadata["format_version"] == 2 and ck.model_config == model.config
    assert "conv1.weight" in ck.model_state and "bn1.bias" in ck.model_state
    fresh = build_model(ck.model_config)
    fresh_opt = Adam(fresh, lr=0.5)
    restored_rng = restore(ck, fresh, fresh_opt)
    for (name, a), (_, b) in zip(
        sorted(model.state_dict().items()), sorted(fresh.state_dict().items()), strict=True
    ):
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    saved, loaded = opt.state_dict(), fresh_opt.state_dict()
    assert loaded["step"] == saved["step"] and loaded["hyper"] == saved["hyper"]
    for k in saved["arrays"]:
        np.testing.assert_array_equal(saved["arrays"][k], loaded["arrays"][k])
    np.testing.assert_array_equal(restored_rng.permutation(50), rng.permutation(50))
    assert load_model(path).training is False
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    model, _ = trained_model_and_optimizer()
    path = save_checkpoint(tmp_path / "ck.npz", model, epoch=1)
    before = path.read_bytes()
    with pytest.raises(TypeError, match="JSON-serialisable"):
        save_checkpoint(path, model, epoch=2, metrics={"bad": object()})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ck.npz"]


def test_truncated_and_corrupted_files_give_clear_errors(tmp_path):
    model, opt = trained_model_and_optimizer()
    path = save_checkpoint(tmp_path / "ck.npz", model, optimizer=opt, epoch=1)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(truncated)
    # flip one byte inside the first array's payload: the zip CRC catches it
    corrupted = tmp_path / "corrupted.npz"
    raw = bytearray(data)
    raw[200] ^= 0xFF
    corrupted.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(corrupted)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    with pytest.raises(CheckpointError, match=r"not an npz checkpoint \(it looks like text\)"):
        load_checkpoint(garbage)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        (
            "config.json",
            b'{"settings": {"lr": 0.003}}\n',
            r"not an npz checkpoint \(it looks like JSON\)",
        ),
        (
            "notes.txt",
            "café, a text file\n".encode(),
            r"not an npz checkpoint \(it looks like text\)",
        ),
        ("empty.npz", b"", r"it looks like an empty file"),
        ("one.npy", None, r"it looks like a single \.npy array"),
        (
            "model.pkl",
            b"\x80\x04\x95\x00",
            r"it looks like a Python pickle, which abcref never loads",
        ),
    ],
)
def test_a_file_that_is_no_archive_says_what_it_looks_like(tmp_path, name, content, match):
    path = tmp_path / name
    if content is None:
        np.save(path, np.zeros(3))
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert name in message and "allow_pickle" not in message and "\n" not in message


def test_a_directory_or_missing_path_is_told_apart(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory, expected a checkpoint file"):
        load_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"checkpoint '.*nothing.npz' does not exist"):
        load_model(tmp_path / "nothing.npz")


def test_every_damaged_checkpoint_gives_one_short_line(tmp_path):
    model, opt = trained_model_and_optimizer()
    data = save_checkpoint(tmp_path / "ck.npz", model, optimizer=opt, epoch=1).read_bytes()
    rng = np.random.default_rng(0)
    for trial in range(60):
        raw = bytearray(data[: rng.integers(1, len(data))] if trial % 2 else data)
        for i in rng.integers(0, len(raw), 3):
            raw[i] ^= int(rng.integers(1, 256))
        path = tmp_path / "damaged.npz"
        path.write_bytes(bytes(raw))
        try:
            load_checkpoint(path)
        except CheckpointError as exc:
            message = str(exc)
            assert "damaged.npz" in message and len(message) <= 300, message
            assert "\n" not in message and "allow_pickle" not in message


def test_an_object_array_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, **{"metadata.json": np.array([object()], dtype=object)})
    with pytest.raises(CheckpointError, match="holds an object array.*never unpickles"):
        load_checkpoint(path)


def test_non_finite_optimizer_state_is_refused(tmp_path):
    model, opt = trained_model_and_optimizer()
    opt.state["exp_avg_sq"]["conv2.weight"][0, 0, 0, 0] = np.nan
    path = save_checkpoint(tmp_path / "nan.npz", model, optimizer=opt, epoch=1)
    with pytest.raises(CheckpointError, match=r"'optimizer/exp_avg_sq/conv2.weight' holds NaN"):
        load_checkpoint(path)


def test_missing_arrays_and_bad_metadata(tmp_path):
    model, opt = trained_model_and_optimizer()
    path = save_checkpoint(tmp_path / "ck.npz", model, optimizer=opt, epoch=1)
    meta = load_checkpoint(path).metadata
    rewrite(path, tmp_path / "a.npz", drop={"model/conv2.v.npy"})
    with pytest.raises(CheckpointError, match=r"lacks arrays \['model/conv2.v'\]"):
        load_checkpoint(tmp_path / "a.npz")
    rewrite(path, tmp_path / "b.npz", drop={"metadata.json.npy"})
    with pytest.raises(CheckpointError, match="has no 'metadata.json'"):
        load_checkpoint(tmp_path / "b.npz")
    rewrite(path, tmp_path / "c.npz", metadata={**meta, "format_version": 99})
    with pytest.raises(CheckpointError, match="format_version 99"):
        load_checkpoint(tmp_path / "c.npz")
    rewrite(path, tmp_path / "d.npz", metadata={**meta, "format": "other"})
    with pytest.raises(CheckpointError, match="not an abcref checkpoint"):
        load_checkpoint(tmp_path / "d.npz")
    rewrite(path, tmp_path / "e.npz", metadata={**meta, "rng_state": {"bit_generator": "os"}})
    with pytest.raises(CheckpointError, match="bit generator 'os'"):
        load_checkpoint(tmp_path / "e.npz").rng()


def test_mismatched_model_or_optimizer(tmp_path):
    model, opt = trained_model_and_optimizer()
    path = save_checkpoint(tmp_path / "ck.npz", model, optimizer=opt, epoch=1)
    ck = load_checkpoint(path)
    other = build_model({**CONFIG, "widths": [4, 8]})
    with pytest.raises(CheckpointError, match="was saved for model config"):
        restore(ck, other)
    other.config = None  # no config to compare: the arrays must still fit
    with pytest.raises(CheckpointError, match="does not fit the model"):
        restore(ck, other)
    same = build_model(CONFIG)
    from abcref.train import SGD

    with pytest.raises(CheckpointError, match="does not fit the optimizer"):
        restore(ck, same, SGD(same, lr=0.1))
    no_opt = save_checkpoint(tmp_path / "no_opt.npz", model, epoch=1)
    with pytest.raises(CheckpointError, match="holds no optimizer state"):
        restore(load_checkpoint(no_opt), same, Adam(same))


def test_failed_restore_leaves_model_and_optimizer_untouched(tmp_path):
    model, opt = trained_model_and_optimizer()
    ck = load_checkpoint(save_checkpoint(tmp_path / "ck.npz", model, optimizer=opt, epoch=1))
    from abcref.train import SGD

    target = build_model(CONFIG)
    for p in target.parameters():
        p += 1.0  # differ from the checkpoint, so any write would show
    before = target.state_dict()
    with pytest.raises(CheckpointError, match="does not fit the optimizer"):
        restore(ck, target, SGD(target, lr=0.1))  # wrong optimizer type
    after = target.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)

    # An optimizer state with one mis-shaped slot array: nothing is written.
    target_opt = Adam(target, lr=0.01)
    opt_before = target_opt.state_dict()
    bad = {**ck.optimizer_state, "arrays": dict(ck.optimizer_state["arrays"])}
    first = sorted(bad["arrays"])[-1]
    bad["arrays"][first] = np.zeros((1, 2, 3), bad["arrays"][first].dtype)
    with pytest.raises(ValueError, match="has shape"):
        target_opt.load_state_dict(bad)
    opt_after = target_opt.state_dict()
    assert opt_after["step"] == opt_before["step"]
    for k in opt_before["arrays"]:
        np.testing.assert_array_equal(opt_before["arrays"][k], opt_after["arrays"][k])


def _write_version1(path, model, optimizer, epoch):
    """A checkpoint as abcref 0.1 wrote it: W/b, BN gamma/beta, format_version 1."""
    new = load_checkpoint(save_checkpoint(path, model, optimizer=optimizer, epoch=epoch))
    bns = {n.rpartition(".")[0] for n in new.model_state if n.endswith("running_var")}

    def old(name):
        prefix, dot, leaf = name.rpartition(".")
        table = (
            {"weight": "gamma", "bias": "beta"} if prefix in bns else {"weight": "W", "bias": "b"}
        )
        return prefix + dot + table.get(leaf, leaf)

    arrays = {f"model/{old(k)}": v for k, v in new.model_state.items()}
    for key, value in new.optimizer_state["arrays"].items():
        slot, _, name = key.partition("/")
        arrays[f"optimizer/{slot}/{old(name)}"] = value
    metadata = {**new.metadata, "format_version": 1, "arrays": sorted(arrays)}
    text = json.dumps(metadata).encode()
    np.savez(path, **arrays, **{"metadata.json": np.frombuffer(text, np.uint8)})
    return sorted(arrays)


def test_version1_checkpoints_load_under_pytorch_names(tmp_path):
    model, opt = trained_model_and_optimizer()
    old_names = _write_version1(tmp_path / "v1.npz", model, opt, epoch=2)
    assert "model/conv1.W" in old_names and "model/bn1.gamma" in old_names
    assert "model/conv2.beta" in old_names and "model/bn2.beta" in old_names  # ABC vs BN beta
    assert "model/fc.b" in old_names and "optimizer/exp_avg/bn1.gamma" in old_names
    ck = load_checkpoint(tmp_path / "v1.npz")
    assert sorted(ck.model_state) == sorted(model.state_dict())
    again = load_model(tmp_path / "v1.npz")
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[name], value, err_msg=name)
    fresh = build_model(CONFIG)
    fresh_opt = Adam(fresh, lr=0.01)
    restore(ck, fresh, fresh_opt)
    for key, value in opt.state_dict()["arrays"].items():
        np.testing.assert_array_equal(fresh_opt.state_dict()["arrays"][key], value, err_msg=key)


def test_non_finite_weights_in_a_checkpoint_are_refused(tmp_path):
    model, _ = trained_model_and_optimizer()
    model.bn1.running_var[0] = np.inf
    path = save_checkpoint(tmp_path / "inf.npz", model, epoch=1)
    with pytest.raises(CheckpointError, match=r"bn1.running_var.*NaN or Inf"):
        load_model(path)


# -- checkpoint metadata of the wrong type: CheckpointError, not int()/.get ----
@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"epoch": "3"}, r"field 'epoch' must be an integer >= 0, got str"),
        ({"epoch": -1}, r"field 'epoch' must be an integer >= 0"),
        ({"arrays": 5}, r"field 'arrays' must be a list of array names, got int"),
        ({"arrays": "model/fc.W"}, r"field 'arrays' must be a list of array names, got str"),
        ({"extra": 5}, r"field 'extra' must be a dict, got int"),
        ({"model_config": [1]}, r"field 'model_config' must be a dict or null"),
        ({"rng_state": "PCG64"}, r"field 'rng_state' must be a dict or null"),
        ({"optimizer": {"type": "Adam"}}, r"field 'optimizer' must be null or a dict with"),
        (
            {"optimizer": {"type": "Adam", "hyper": {}, "step": 2}},
            r"\"hyper\" is a dict holding \"lr\"",
        ),
    ],
)
def test_checkpoint_metadata_of_the_wrong_type_is_a_checkpoint_error(tmp_path, changes, match):
    model = build_model(TINY_ABC)
    path = save_checkpoint(tmp_path / "ck.npz", model, optimizer=Adam(model), epoch=1)
    bad = with_metadata(path, tmp_path / "bad.npz", **changes)
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(bad)
    assert "bad.npz" in str(info.value)


# -- every bit generator the loader accepts can also be saved ------------------
@pytest.mark.parametrize("bit_generator", ["PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937"])
def test_checkpoint_round_trips_every_allowed_bit_generator(tmp_path, bit_generator):
    model = build_model(TINY_ABC)
    rng = np.random.Generator(getattr(np.random, bit_generator)(7))
    rng.random(5)
    path = save_checkpoint(tmp_path / "ck.npz", model, rng=rng)  # TypeError for arrays
    restored = load_checkpoint(path).rng()
    np.testing.assert_array_equal(restored.random(20), rng.random(20))
    assert type(restored.bit_generator).__name__ == bit_generator
