"""Run every benchmark and write ``benchmarks/results.md``: ``python benchmarks/run_all.py``.

Each script runs in its own process (``bench_bitpack.py`` twice: one
thread and two), measures abcref and its comparison side by side
(interleaved or alternating rounds, so that load from other processes
hits both alike) and writes its measurements as JSON (``--json``). This
script collects them with the machine, the library versions and the date
into ``results.json`` and renders from it:

- ``results.md``: one row per ratio, with its goal and whether it is met
  (README.md embeds this file: ``python scripts/embed_results.py``);
- ``output.txt``: every script's printed output, as it ran.

    python benchmarks/run_all.py            # a few minutes; run it on an otherwise idle machine
    python benchmarks/run_all.py --render   # render results.md and output.txt from results.json

The tests never time anything: they check that the README block equals
``results.md`` and that both files equal what :func:`render` and
:func:`render_output` make of ``results.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: (name, script, arguments): what run_all runs, in order.
RUNS = (
    ("conv", "bench_conv.py", ()),
    ("conv_1", "bench_conv.py", ("--threads", "1")),
    ("abcconv", "bench_abcconv.py", ()),
    ("bitpack_1", "bench_bitpack.py", ("--threads", "1", "--abc")),
    ("bitpack_2", "bench_bitpack.py", ("--threads", "2")),
    ("train", "bench_train.py", ()),
    ("baselines", "bench_baselines.py", ()),
    ("sweep", "bench_sweep.py", ()),
)

NOTE = (
    "Timings on this shared 2-core machine vary between runs, multi-threaded ones most; "
    "each script measures abcref and its comparison side by "
    "side in one process (interleaved calls, or alternating rounds against PyTorch in a "
    "separate process) so that load hits both alike, and reports their ratio."
)


def _versions() -> dict:
    import numpy as np

    versions = {"numpy": np.__version__, "blas": _blas(np)}
    try:
        import torch

        versions["torch"] = torch.__version__
    except ImportError:
        versions["torch"] = None
    return versions


def _blas(np) -> str:
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001  (older NumPy: no dict mode; the name is optional)
        return "unknown"


def run_all() -> dict:
    """Run every script of :data:`RUNS`; return what ``results.json`` holds."""
    from abcref.apps.reporting import machine

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), _pythonpath()]))}
    record = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "versions": _versions(),
        "load_before": os.getloadavg()[0],
        "runs": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, script, arguments in RUNS:
            out = Path(tmp) / f"{name}.json"
            command = [sys.executable, str(HERE / script), *arguments, "--json", str(out)]
            print(f"running {script} {' '.join(arguments)}".rstrip(), file=sys.stderr)
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
            record["runs"][name] = {
                "command": f"python benchmarks/{script} {' '.join(arguments)}".rstrip(),
                "stdout": done.stdout,
                "measured": json.loads(out.read_text()),
            }
    record["load_after"] = os.getloadavg()[0]
    return record


def _pythonpath() -> str:
    return os.environ.get("PYTHONPATH", "")


def _x(value: float) -> str:
    return f"{value:.2f}×"


def _row(script: str, what: str, ratio: float, goal: str = "—", met: bool | None = None):
    verdict = "" if met is None else ("met" if met else "not met")
    return (script, what, _x(ratio), goal, verdict)


def rows(record: dict) -> list[tuple[str, str, str, str, str]]:
    """``(script, what, ratio, goal, verdict)`` for every ratio of ``record``."""
    runs = record["runs"]
    out = []
    shape = "N=32, 64→64, 28×28, 3×3, pad 1, float32"
    for name in ("conv", "conv_1"):
        conv = runs[name]["measured"]
        if not conv.get("torch"):
            continue
        threads = conv["torch_threads"]
        versus = (
            f"PyTorch {conv['torch']}'s ({threads} thread{'s' if threads > 1 else ''} each, "
            f"{conv.get('clock', 'wall time')}, PyTorch in its own process)"
        )
        for key, what, goal in (
            ("forward", "conv2d forward", None),
            ("forward_backward", "conv2d forward+backward", 1.3),
        ):
            ratio = conv[f"{key}_ratio"]
            what = f"{what} ({shape}): abcref's time / {versus}"
            if goal is None:
                out.append(_row("bench_conv.py", what, ratio))
            else:
                out.append(_row("bench_conv.py", what, ratio, f"≤ {goal}×", ratio <= goal))
    conv = runs["conv"]["measured"]
    what = "conv2d forward+backward: the reference `abcref.ops.conv2d` / the fast tier"
    out.append(_row("bench_conv.py", what, conv["reference_over_fast"]))
    abc = runs["abcconv"]["measured"]["ratios"]
    for key in ("ABC whole-layer", "ABC channel-wise"):
        what = f"{key} conv, M = N = 3, forward+backward ({shape}) / a plain float conv"
        out.append(_row("bench_abcconv.py", what, abc[key], "≤ N = 3×", abc[key] <= 3))
    what = "the reference M × N sum of eq. 12 / a plain float conv"
    out.append(_row("bench_abcconv.py", what, abc["reference M x N sum"]))
    for name in ("bitpack_1", "bitpack_2"):
        bits = runs[name]["measured"]
        threads = bits["threads"]
        clock = "CPU time" if threads == 1 else "wall time"
        for key, how in (
            ("xnor_conv2d (packs both, zero-pad fix)", "end to end"),
            ("xnor_popcount_conv2d_packed (words in)", "pre-packed operands"),
        ):
            speed = bits["speedups"][key]
            goal = (1.5 if threads == 1 else 1.0) if how == "end to end" else None
            what = (
                f"xnor/popcount conv2d ({how}) against float32 BLAS on the same ±1 layer (N=8, "
                f"64→64, 28×28, 3×3, pad 1), {threads} thread{'s' if threads > 1 else ''} each, "
                f"{clock}: speed ratio ({bits['gmacs'][key]:.1f} G binary MAC/s)"
            )
            if goal is None:
                out.append(_row("bench_bitpack.py", what, speed))
            else:
                out.append(_row("bench_bitpack.py", what, speed, f"≥ {goal}×", speed >= goal))
        if "abc_speedups" in bits:
            speed = bits["abc_speedups"]["compiled ABC layer (9 popcount convs)"]
            what = (
                f"a compiled ABC layer (M = N = 3: 9 popcount convs) against the float "
                f"`ABCConv2d` forward (one float conv), {threads} thread, {clock}: speed ratio"
            )
            out.append(_row("bench_bitpack.py", what, speed))
    out += _train_rows(runs["train"]["measured"])
    for name, ratio in runs["baselines"]["measured"]["ratios"].items():
        if name != "plain conv2d":
            what = f"{name} conv forward+backward ({shape}) / a plain float conv"
            out.append(_row("bench_baselines.py", what, ratio))
    if "sweep" in runs:  # results.json files older than bench_sweep.py have no sweep
        sweep = runs["sweep"]["measured"]
        what = (
            f"a sweep of {sweep['runs']} training runs (`abcref reproduce`'s setting), wall time "
            f"with `--jobs 1` / with `--jobs 2` ({sweep['cores']} usable cores)"
        )
        speedup, goal = sweep["speedup"], "≈ 2× on 2 cores (≥ 1.8×)"
        out.append(_row("bench_sweep.py", what, speedup, goal, speedup >= 1.8))
    return out


def _train_rows(train: dict) -> list:
    net = (
        f"`small_cnn` 32-64-64-64, {train['images']:,} synthetic 28×28 images, Adam, batch 64, "
        f"{train['threads']} threads each"
    )
    out = []
    for name, ratio in train["over_torch"].items():
        label = "full precision" if name == "FP" else f"ABC {name}"
        what = (
            f"training epoch ({net}), {label}: abcref's time / PyTorch {train['torch']}'s "
            "(the same net, its own process)"
        )
        if name == train["headline"]:
            out.append(_row("bench_train.py", what, ratio, "≤ 1.5×", ratio <= 1.5))
        else:
            out.append(_row("bench_train.py", what, ratio))
    for name, ratio in train["ratios"].items():
        if name != "FP":
            n = int(name.split("N=")[1])
            what = f"training epoch ({net}), abcref: ABC {name} / full precision"
            out.append(_row("bench_train.py", what, ratio, f"≤ N + 1 = {n + 1}×", ratio <= n + 1))
    if "torch_abc_over_fp" in train:
        what = f"the same in PyTorch: ABC {train['headline']} / full precision"
        out.append(_row("bench_train.py", what, train["torch_abc_over_fp"]))
    return out


def render(record: dict) -> str:
    """``results.md``: the ratios with their goals, the machine, the versions, the date."""
    m, v = record["machine"], record["versions"]
    torch = f", PyTorch {v['torch']}" if v.get("torch") else ""
    lines = [
        f"`python benchmarks/run_all.py` on {record['date']}: {m['system']}, {m['cores']} cores "
        f"({m['cpu']}), Python {m['python']}, NumPy {v['numpy']} ({v['blas']}){torch}; load "
        f"average {record['load_before']:.2f} before and {record['load_after']:.2f} after. "
        f"{NOTE}",
        "",
        "| script | what is compared | measured | goal | |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| `{row[0]}` | " + " | ".join(row[1:]) + " |" for row in rows(record)]
    lines += ["", "Every script's own output (times, throughputs): `benchmarks/output.txt`."]
    return "\n".join(lines) + "\n"


def render_output(record: dict) -> str:
    """``output.txt``: every script's command and printed output."""
    parts = [f"# python benchmarks/run_all.py, {record['date']}\n"]
    for run in record["runs"].values():
        parts.append(f"\n$ {run['command']}\n{run['stdout']}")
    return "".join(parts)


def write(record: dict) -> None:
    """Write ``results.json``, ``results.md`` and ``output.txt`` next to this script."""
    (HERE / "results.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    (HERE / "results.md").write_text(render(record), encoding="utf-8")
    (HERE / "output.txt").write_text(render_output(record), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render", action="store_true", help="only render from results.json")
    args = parser.parse_args()
    if args.render:
        record = json.loads((HERE / "results.json").read_text(encoding="utf-8"))
    else:
        record = run_all()
    write(record)
    print((HERE / "results.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
