"""Checkpoints: one ``.npz`` file, no pickle, written atomically.

File layout
-----------
A checkpoint is a single NumPy ``.npz`` archive (a zip file) holding

- ``model/<dotted name>``: every parameter and buffer of the model
  (``Module.state_dict()``);
- ``optimizer/<slot>/<dotted name>``: the optimizer's per-parameter state
  (momentum buffer, Adam moments), if an optimizer was saved;
- ``metadata.json``: a ``uint8`` array holding UTF-8 JSON::

    {"format": "abcref-checkpoint", "format_version": 2,
     "abcref_version": "0.1.0",
     "model_config": {...} | null,   # build_model() input
     "epoch": 3,                     # completed epochs
     "metrics": {...},               # e.g. the last epoch's record
     "optimizer": {"type", "hyper", "step"} | null,
     "rng_state": {...} | null,      # np.random bit_generator.state
     "extra": {...},                 # free JSON (fit settings, schedule)
     "arrays": ["model/...", ...]}   # every array the file must hold

Keeping everything in one file makes the write atomic: the archive is
written to a temporary file in the target directory, flushed to disk and
moved over the target with :func:`os.replace`, so a crash leaves either
the old or the new checkpoint, never half of one.

Loading goes through :func:`abcref._io.read_npz`, which never unpickles
and reads every array eagerly, so a truncated or corrupted file (the zip
CRC catches flipped bytes), or a file that is no archive at all (a
``config.json``, a text file), fails at load time with a one-line
:class:`CheckpointError` naming the file; so does an array holding NaN or
Inf. A missing path is a ``FileNotFoundError``, a directory an
``IsADirectoryError``.

Format versions
---------------
Version 2 names parameters as PyTorch does (``conv1.weight``,
``bn1.weight``, ``bn1.bias``, ``fc.bias``). Version 1 (abcref 0.1) named
them ``W`` and ``b``, and a batch norm's ``gamma`` and ``beta``;
:func:`load_checkpoint` renames a version-1 file's arrays on reading, so
old checkpoints keep loading.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import abcref
from abcref._io import atomic_write, read_npz
from abcref.nn.module import Module

FORMAT_NAME = "abcref-checkpoint"
FORMAT_VERSION = 2
METADATA_KEY = "metadata.json"

# Only these bit generators may be named by a checkpoint's RNG state (a
# file must never make us look up an arbitrary attribute).
_BIT_GENERATORS = {
    "PCG64": np.random.PCG64,
    "PCG64DXSM": np.random.PCG64DXSM,
    "Philox": np.random.Philox,
    "SFC64": np.random.SFC64,
    "MT19937": np.random.MT19937,
}


class CheckpointError(ValueError):
    """A checkpoint file is corrupt, truncated, or does not match the model."""


@dataclass
class Checkpoint:
    """The contents of a checkpoint file.

    Attributes
    ----------
    path : str
        Where it was read from.
    metadata : dict
        The JSON metadata (see the module docstring).
    model_state : dict of str to ndarray
        For ``Module.load_state_dict``.
    optimizer_state : dict or None
        For ``Optimizer.load_state_dict`` (``{"type", "hyper", "step",
        "arrays"}``), or None if no optimizer was saved.
    """

    path: str
    metadata: dict
    model_state: dict[str, np.ndarray]
    optimizer_state: dict | None = None
    extra: dict = field(default_factory=dict)

    @property
    def epoch(self) -> int:
        return int(self.metadata["epoch"])

    @property
    def model_config(self) -> dict | None:
        return self.metadata.get("model_config")

    def rng(self) -> np.random.Generator | None:
        """A generator in exactly the saved state (None if none was saved)."""
        return rng_from_state(self.metadata.get("rng_state"), where=self.path)


def save_checkpoint(
    path,
    model: Module,
    *,
    optimizer=None,
    epoch: int = 0,
    rng: np.random.Generator | None = None,
    metrics: dict | None = None,
    extra: dict | None = None,
) -> Path:
    """Write model (and optimizer, RNG) state to ``path`` atomically.

    Parameters
    ----------
    path : str or Path
        Target file; ``.npz`` is conventional (no suffix is added).
    model : Module
        Its ``state_dict()`` is saved, and ``model.config`` (set by
        :func:`abcref.nn.build_model`) if present.
    optimizer : Optimizer, optional
        Its ``state_dict()`` is saved.
    epoch : int
        Number of completed epochs.
    rng : numpy.random.Generator, optional
        The minibatch-shuffling generator; its exact state is saved.
    metrics, extra : dict, optional
        JSON-serialisable information kept in the metadata.

    Returns
    -------
    Path
        ``path``.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be an abcref.nn.Module, got {type(model).__name__}")
    path = Path(path)
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    opt_meta = None
    if optimizer is not None:
        opt_state = optimizer.state_dict()
        arrays.update({f"optimizer/{k}": v for k, v in opt_state["arrays"].items()})
        opt_meta = {k: opt_state[k] for k in ("type", "hyper", "step")}
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "abcref_version": abcref.__version__,
        "model_config": getattr(model, "config", None),
        "epoch": int(epoch),
        "metrics": metrics or {},
        "optimizer": opt_meta,
        "rng_state": None if rng is None else _json_state(rng.bit_generator.state),
        "extra": extra or {},
        "arrays": sorted(arrays),
    }
    try:
        text = json.dumps(metadata, sort_keys=True)
    except TypeError as exc:
        raise TypeError(f"checkpoint metadata must be JSON-serialisable: {exc}") from None
    arrays[METADATA_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    IsADirectoryError
        If ``path`` is a directory.
    CheckpointError
        If the file is not an npz archive (the message says what it looks
        like, e.g. JSON or text), is corrupt or truncated, lacks or has
        unreadable metadata, has a newer format version, lacks an array
        its metadata lists, or holds NaN or Inf in a model or optimizer
        array.
    """
    path = Path(path)
    contents = read_npz(path, kind="checkpoint", error=CheckpointError)
    metadata = _parse_metadata(contents.pop(METADATA_KEY, None), path)
    missing = sorted(set(metadata["arrays"]) - set(contents))
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} lacks arrays {missing}")
    _check_finite(contents, path)
    model_state = {k[len("model/") :]: v for k, v in contents.items() if k.startswith("model/")}
    renames = _version1_renames(model_state) if metadata["format_version"] == 1 else {}
    model_state = {renames.get(k, k): v for k, v in model_state.items()}
    optimizer_state = None
    if metadata.get("optimizer") is not None:
        opt_arrays = {}
        for key, value in contents.items():
            if key.startswith("optimizer/"):
                slot, _, name = key[len("optimizer/") :].partition("/")
                opt_arrays[f"{slot}/{renames.get(name, name)}"] = value
        optimizer_state = {**metadata["optimizer"], "arrays": opt_arrays}
    return Checkpoint(str(path), metadata, model_state, optimizer_state)


def _check_finite(contents: dict, path: Path) -> None:
    """Refuse NaN/Inf in any float array: no weight or optimizer moment is ever non-finite."""
    for name, array in contents.items():
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            raise CheckpointError(f"checkpoint {str(path)!r}: array {name!r} holds NaN or Inf")


def _version1_renames(names) -> dict[str, str]:
    """Format-1 parameter names -> PyTorch's (see "Format versions" above).

    ``W`` and ``b`` become ``weight`` and ``bias``; so do ``gamma`` and
    ``beta`` of a batch norm, recognised by its ``gamma`` (an ABC layer's
    ``beta`` has no ``gamma`` beside it and keeps its name).
    """
    batchnorms = {n.rpartition(".")[0] for n in names if n.rpartition(".")[2] == "gamma"}
    leaves = {"W": "weight", "b": "bias"}
    bn_leaves = {"gamma": "weight", "beta": "bias"}
    renames = {}
    for name in names:
        prefix, dot, leaf = name.rpartition(".")
        new = bn_leaves.get(leaf) if prefix in batchnorms else None
        new = new or leaves.get(leaf)
        if new is not None:
            renames[name] = f"{prefix}{dot}{new}"
    return renames


def _parse_metadata(raw, path: Path) -> dict:
    if raw is None:
        raise CheckpointError(f"{str(path)!r} has no {METADATA_KEY!r}: not an abcref checkpoint")
    try:
        metadata = json.loads(bytes(raw.astype(np.uint8)).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{str(path)!r} has unreadable metadata: {exc}") from exc
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{str(path)!r} is not an abcref checkpoint (format field)")
    version = metadata.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{str(path)!r} has format_version {version!r}; this abcref "
            f"({abcref.__version__}) reads versions <= {FORMAT_VERSION}"
        )
    for key in ("epoch", "arrays"):
        if key not in metadata:
            raise CheckpointError(f"{str(path)!r} metadata lacks {key!r}")
    _check_metadata_types(metadata, path)
    return metadata


def _check_metadata_types(metadata: dict, path: Path) -> None:
    """Reject fields of the wrong type with a CheckpointError naming the file.

    A hand-edited or foreign file must not surface later as a bare
    ``int()``/``.get`` failure (or, worse, be read character by character:
    a string ``"arrays"`` would be iterated as a list of names).
    """

    def bad(key, expected):
        value = metadata.get(key)
        raise CheckpointError(
            f"{str(path)!r} metadata field {key!r} must be {expected}, "
            f"got {type(value).__name__} {value!r:.60}"
        )

    epoch = metadata["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        bad("epoch", "an integer >= 0")
    arrays = metadata["arrays"]
    if not isinstance(arrays, list) or not all(isinstance(a, str) for a in arrays):
        bad("arrays", "a list of array names")
    for key in ("model_config", "rng_state"):
        if metadata.get(key) is not None and not isinstance(metadata[key], dict):
            bad(key, "a dict or null")
    for key in ("metrics", "extra"):
        if not isinstance(metadata.get(key, {}), dict):
            bad(key, "a dict")
    optimizer = metadata.get("optimizer")
    if optimizer is not None:
        if not isinstance(optimizer, dict) or not {"type", "hyper", "step"} <= set(optimizer):
            bad("optimizer", 'null or a dict with "type", "hyper" and "step"')
        step = optimizer["step"]
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            bad("optimizer", 'a dict whose "step" is an integer >= 0')
        if not isinstance(optimizer["hyper"], dict) or "lr" not in optimizer["hyper"]:
            bad("optimizer", 'a dict whose "hyper" is a dict holding "lr"')


def restore(checkpoint: Checkpoint, model: Module, optimizer=None) -> np.random.Generator | None:
    """Load a checkpoint's state into ``model`` (and ``optimizer``).

    Parameters are written in place. If ``model`` has a ``config`` (it was
    made by ``build_model``), it must equal the checkpoint's.

    Returns
    -------
    numpy.random.Generator or None
        The saved shuffling generator, in its saved state.

    Raises
    ------
    CheckpointError
        On a different model config, or a missing/unexpected/mis-shaped
        array, or a missing optimizer state when ``optimizer`` is given.
    """
    where = repr(checkpoint.path)
    config = getattr(model, "config", None)
    if config is not None and checkpoint.model_config is not None:
        if _normalise(config) != _normalise(checkpoint.model_config):
            raise CheckpointError(
                f"checkpoint {where} was saved for model config "
                f"{checkpoint.model_config}, not {config}"
            )
    if optimizer is not None and checkpoint.optimizer_state is None:
        raise CheckpointError(f"checkpoint {where} holds no optimizer state")
    previous = model.state_dict()
    try:
        model.load_state_dict(checkpoint.model_state)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {where} does not fit the model: {exc}") from exc
    if optimizer is not None:
        try:
            optimizer.load_state_dict(checkpoint.optimizer_state)
        except (ValueError, TypeError, KeyError) as exc:
            model.load_state_dict(previous)  # all or nothing: undo the model part
            raise CheckpointError(f"checkpoint {where} does not fit the optimizer: {exc}") from exc
    return checkpoint.rng()


def load_model(path) -> Module:
    """Rebuild a model from a checkpoint's config and load its state.

    The model is returned in eval mode.
    """
    from abcref.nn.models import build_model

    checkpoint = load_checkpoint(path)
    if checkpoint.model_config is None:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has no model_config; build the model yourself "
            "and call restore()"
        )
    model = build_model(checkpoint.model_config)
    restore(checkpoint, model)
    return model.eval()


def rng_from_state(state, *, where: str = "rng state") -> np.random.Generator | None:
    """A ``numpy.random.Generator`` set to a ``bit_generator.state`` dict."""
    if state is None:
        return None
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in _BIT_GENERATORS:
        raise CheckpointError(
            f"{where}: rng_state names bit generator {name!r}, expected one of "
            f"{sorted(_BIT_GENERATORS)}"
        )
    bit_generator = _BIT_GENERATORS[name]()
    try:
        bit_generator.state = state
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{where}: invalid rng_state: {exc}") from exc
    return np.random.Generator(bit_generator)


def _json_state(state):
    """A ``bit_generator.state`` with its arrays as lists (JSON has no ndarray).

    PCG64's state is plain ints, but SFC64, Philox and MT19937 hold uint64 /
    uint32 arrays; their ``state`` setters take the lists back unchanged.
    """
    if isinstance(state, dict):
        return {k: _json_state(v) for k, v in state.items()}
    if isinstance(state, np.ndarray):
        return state.tolist()
    if isinstance(state, np.generic):
        return state.item()
    return state


def _normalise(config):
    """JSON round trip, so tuples and lists compare equal."""
    return json.loads(json.dumps(config, sort_keys=True))
