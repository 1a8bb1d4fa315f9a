"""A whole-model run: its directory format, and abcref's own run traced layer by layer.

Another implementation of a model exports one forward (and optionally one
backward) as a *run directory*::

    RUN/
      model.json       {"format": "abcref-model-run", "format_version": 1,
                        "config": {... abcref.nn.build_model config ...},
                        "mode": "train" | "eval"}
      parameters.npz   every parameter and buffer, named as PyTorch's state_dict
                       names them (a batch norm's num_batches_tracked is ignored)
      batch.npz        x (B, C, H, W) in the model's dtype; y (B,) integer labels
                       (needed for "loss" and gradients)
      outputs.npz      logits (B, classes); optional: loss (a scalar, the mean
                       cross-entropy of logits and y) and per-layer outputs, each
                       named by its module path ("conv2", "layer1.0.bn1", ...)
      gradients.npz    optional: the gradient of that loss with respect to every
                       parameter, named as the parameters (one backward)

``mode`` is the mode of the forward: ``"train"`` normalises with the batch
statistics (PyTorch's ``model.train()``), ``"eval"`` with the running
statistics of parameters.npz. :func:`load_run` reads and validates a run
directory; :func:`trace_model` runs abcref's model on the same batch and
records every module's input and output, and every parameter gradient;
:func:`export_model_run` writes abcref's own run in this format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from abcref import ops
from abcref._io import write_text_atomic
from abcref.nn import build_model
from abcref.nn.module import Module
from abcref.oracle.format import OracleFormatError, load_arrays, write_arrays

RUN_FORMAT = "abcref-model-run"
RUN_FORMAT_VERSION = 1
FILES = {
    "model": "model.json",
    "parameters": "parameters.npz",
    "batch": "batch.npz",
    "outputs": "outputs.npz",
    "gradients": "gradients.npz",
}
MODES = ("train", "eval")
#: State entries PyTorch keeps and abcref does not (the BN step counter): ignored.
IGNORED_STATE = "num_batches_tracked"


@dataclass
class Run:
    """A validated run directory (the other implementation's)."""

    directory: Path
    config: dict
    mode: str
    parameters: dict[str, np.ndarray]
    x: np.ndarray
    y: np.ndarray | None
    outputs: dict[str, np.ndarray]
    gradients: dict[str, np.ndarray] | None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Trace:
    """abcref's run: module outputs in completion order, inputs, upstream gradients."""

    order: list[str] = field(default_factory=list)  # module paths, in order of completion
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    douts: dict[str, np.ndarray] = field(default_factory=dict)  # dc/d(output) per module
    producers: dict[str, list[str]] = field(default_factory=dict)  # whose output is my input
    fed: dict[str, str] = field(default_factory=dict)  # the layer whose output fed each input
    logits: np.ndarray | None = None
    loss: np.ndarray | None = None
    gradients: dict[str, np.ndarray] | None = None


# -- reading a run directory -----------------------------------------------------------------
def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise OracleFormatError(f"{str(path)!r} does not exist: is the directory a model run?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise OracleFormatError(f"{str(path)!r} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise OracleFormatError(f"{str(path)!r} must hold a JSON object")
    return data


def _header(directory: Path) -> tuple[dict, str]:
    path = directory / FILES["model"]
    data = _read_json(path)
    where = repr(str(path))
    if data.get("format") != RUN_FORMAT:
        raise OracleFormatError(
            f"{where}: 'format' must be {RUN_FORMAT!r}, got {data.get('format')!r}"
        )
    if data.get("format_version") != RUN_FORMAT_VERSION:
        raise OracleFormatError(
            f"{where}: format_version {data.get('format_version')!r} is not supported "
            f"(this abcref reads version {RUN_FORMAT_VERSION})"
        )
    if not isinstance(data.get("config"), dict):
        raise OracleFormatError(
            f"{where}: 'config' must be an abcref.nn.build_model config object"
        )
    if data.get("mode") not in MODES:
        raise OracleFormatError(
            f"{where}: 'mode' must be 'train' or 'eval', got {data.get('mode')!r}"
        )
    return data["config"], data["mode"]


def build_from_config(config: dict, where: str) -> Module:
    """``build_model(config)``, its refusals as :class:`OracleFormatError`."""
    try:
        return build_model(config)
    except (ValueError, TypeError) as err:
        raise OracleFormatError(f"{where}: the config does not build a model: {err}") from None
    except MemoryError:
        raise OracleFormatError(f"{where}: the config's model does not fit in memory") from None


def load_parameters(model: Module, path: Path) -> dict[str, np.ndarray]:
    """Load ``path`` into ``model`` by name; every name must match both ways."""
    arrays = load_arrays(path)
    state = {k: v for k, v in arrays.items() if k.rpartition(".")[2] != IGNORED_STATE}
    expected = dict(model.state_dict())
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise OracleFormatError(
            f"{str(path)!r} does not match the model of the config: missing {missing}, "
            f"unexpected {unexpected}"
        )
    try:
        model.load_state_dict(state)
    except (ValueError, TypeError) as err:
        raise OracleFormatError(f"{str(path)!r}: {err}") from None
    return state


def _batch(path: Path, model_dtype, num_classes: int):
    arrays = load_arrays(path)
    where = repr(str(path))
    x, y = arrays.get("x"), arrays.get("y")
    if x is None:
        raise OracleFormatError(f"{where} holds no array 'x' (the batch of inputs)")
    if x.dtype != model_dtype or x.ndim != 4:
        raise OracleFormatError(
            f"{where}: x must be a 4-d {model_dtype} array (B, C, H, W), the model's dtype; "
            f"got shape {list(x.shape)}, dtype {x.dtype}"
        )
    if y is not None:
        if y.dtype.kind not in "iu" or y.shape != (x.shape[0],):
            raise OracleFormatError(
                f"{where}: y must be ({x.shape[0]},) integer labels, got shape {list(y.shape)}, "
                f"dtype {y.dtype}"
            )
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise OracleFormatError(f"{where}: labels y must lie in [0, {num_classes})")
    extra = sorted(set(arrays) - {"x", "y"})
    warnings = (
        [f"array(s) {extra} in {where} are not used (the batch is x and y)"] if extra else []
    )
    return x, y, warnings


def load_run(directory) -> tuple[Run, Module]:
    """Read and validate a run directory; return it and the abcref model it describes.

    The model is built from the config and holds the run's parameters.

    Raises
    ------
    OracleFormatError
        If a file is missing, unreadable or inconsistent with the model of
        the config (names, shapes, dtypes), so that the check cannot run.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise OracleFormatError(f"{str(directory)!r} is not a directory")
    config, mode = _header(directory)
    model = build_from_config(config, repr(str(directory / FILES["model"])))
    parameters = load_parameters(model, directory / FILES["parameters"])
    dtype = next(iter(model.parameters())).dtype
    num_classes = model.config["num_classes"]
    x, y, warnings = _batch(directory / FILES["batch"], dtype, num_classes)
    outputs = load_arrays(directory / FILES["outputs"])
    if "logits" not in outputs:
        raise OracleFormatError(
            f"{str(directory / FILES['outputs'])!r} holds no array 'logits' "
            f"(it holds {sorted(outputs)})"
        )
    gradients = None
    if (directory / FILES["gradients"]).exists():
        gradients = load_arrays(directory / FILES["gradients"])
        if y is None:
            raise OracleFormatError(
                f"{str(directory / FILES['gradients'])!r} needs the labels y in batch.npz "
                "(gradients are those of the mean cross-entropy of logits and y)"
            )
    if "loss" in outputs and y is None:
        raise OracleFormatError("outputs.npz holds a loss but batch.npz holds no labels y")
    known = set(FILES.values())
    for entry in sorted(directory.iterdir()):
        if entry.name not in known:
            warnings.append(f"{str(entry)!r} is not part of a model run (ignored)")
    run = Run(directory, config, mode, parameters, x, y, outputs, gradients, warnings)
    return run, model


# -- abcref's run, traced ----------------------------------------------------------------------
def _instrument(model: Module, trace: Trace, x: np.ndarray, feed) -> list[Module]:
    """Wrap every module's forward/backward to record into ``trace``; return the modules."""
    objects: dict[int, list[str]] = {id(x): ["input"]}
    keep = [x]  # keep recorded objects alive, so that their ids stay unique
    wrapped = []
    for name, module in model.named_modules():
        if not name:
            continue
        forward, backward = module.forward, module.backward

        def traced_forward(inp, _name=name, _forward=forward):
            trace.producers[_name] = list(objects.get(id(inp), []))
            if feed is not None:
                inp, source = feed(_name, inp)
                if source is not None:
                    trace.fed[_name] = source
            out = _forward(inp)
            trace.inputs[_name] = inp
            trace.outputs[_name] = out.copy()
            trace.order.append(_name)
            objects.setdefault(id(out), []).append(_name)
            keep.append(out)
            return out

        def traced_backward(dout, _name=name, _backward=backward):
            trace.douts[_name] = dout.copy()
            return _backward(dout)

        object.__setattr__(module, "forward", traced_forward)
        object.__setattr__(module, "backward", traced_backward)
        wrapped.append(module)
    return wrapped


def trace_model(
    model: Module, x: np.ndarray, y=None, *, mode: str = "train", backward=True, feed=None
):
    """Run ``model`` on ``x`` (and one backward of the mean cross-entropy with ``y``).

    Returns a :class:`Trace`. ``feed(name, input) -> (input, source)``, if
    given, may replace a module's input before it runs (``source`` names
    what replaced it, or is None). The model's modules are restored
    afterwards; in ``"train"`` mode its BN running statistics advance by
    one step, as a training forward does.
    """
    model.train(mode == "train")
    trace = Trace()
    wrapped = _instrument(model, trace, x, feed)
    try:
        trace.logits = model.forward(x)
        if y is not None:
            loss, cache = ops.softmax_cross_entropy_forward(trace.logits, y)
            trace.loss = np.asarray(loss)
            if backward:
                model.zero_grad()
                model.backward(ops.softmax_cross_entropy_backward(1.0, cache))
                trace.gradients = {k: g.copy() for k, g in model.named_grads()}
    finally:
        for module in wrapped:
            del module.__dict__["forward"], module.__dict__["backward"]
    return trace


def export_model_run(
    directory, model: Module, x: np.ndarray, y=None, *, mode="train", layers=True, gradients=True
) -> Path:
    """Write abcref's own run of ``model`` on ``(x, y)`` as a run directory.

    The parameters are saved before the forward (a training forward moves
    BN's running statistics). ``layers`` adds every module's output to
    outputs.npz; ``gradients`` (needs ``y``) adds gradients.npz. A run
    written here passes :func:`abcref.oracle.check_model`; implementers in
    other languages can also read it as the reference of each layer.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
    if gradients and y is None:
        raise ValueError("gradients need the labels y")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    trace = trace_model(model, x, y, mode=mode, backward=gradients)
    header = {
        "format": RUN_FORMAT,
        "format_version": RUN_FORMAT_VERSION,
        "config": model.config,
        "mode": mode,
    }
    write_text_atomic(directory / FILES["model"], json.dumps(header, indent=2) + "\n")
    write_arrays(directory / FILES["parameters"], state)
    write_arrays(directory / FILES["batch"], {"x": x} if y is None else {"x": x, "y": y})
    outputs = {"logits": trace.logits}
    if trace.loss is not None:
        outputs["loss"] = trace.loss
    if layers:
        outputs.update({name: trace.outputs[name] for name in trace.order})
    write_arrays(directory / FILES["outputs"], outputs)
    if gradients:
        write_arrays(directory / FILES["gradients"], trace.gradients)
    return directory
