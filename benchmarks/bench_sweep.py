"""A sweep's wall time with one job and with two (worker processes), side by side.

The sweep: ``abcref reproduce``'s setting (small_cnn widths 16 32 32 32,
3 epochs, Adam lr 3e-3, cosine decay, batch 64, the embedded digits) for
full precision and M = N = 1, 3, 5, seeds 0 and 1: 8 runs. Each round
times ``run_sweep(jobs=1)`` and ``run_sweep(jobs=2)`` (start-up of the
worker processes included), in alternating order from round to round so
that load from other processes hits both alike; the best time of each is
kept, the results are checked to be identical, and the ratio of the wall
times is printed. BLAS is pinned to one thread before NumPy loads, as the
``abcref`` command does.

``--reproduce`` also times the whole ``abcref reproduce`` command (30 runs,
bit check, figures) with ``--jobs 1`` and with its default (every usable
core), each in its own process, in the same alternating rounds (best of
each).

``--markdown FILE`` writes what it printed as a Markdown block, with the
command, the date and the machine; ``--render JSON`` prints (and writes)
it again from a ``--json`` file, measuring nothing. ``docs/cluster.md``
embeds ``benchmarks/sweep.md``, made with ``--reproduce --json
benchmarks/sweep.json --markdown benchmarks/sweep.md``.

    python benchmarks/bench_sweep.py [--rounds 2] [--reproduce] [--json FILE] [--markdown FILE]
    python benchmarks/bench_sweep.py --render benchmarks/sweep.json --markdown benchmarks/sweep.md
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before NumPy loads: jobs=1 as the command runs it

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from abcref.apps.parallel import default_jobs  # noqa: E402
from abcref.apps.reproduce import DEFAULT  # noqa: E402
from abcref.apps.sweep import FULL_PRECISION, abc_conv, run_sweep  # noqa: E402
from abcref.data import load_digits  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def sweep_configs() -> dict:
    """Full precision and the ABC models M = N = 1, 3, 5 of reproduce's network."""
    base = {"arch": "small_cnn", "widths": list(DEFAULT.widths)}
    configs = {FULL_PRECISION: {**base, "conv": "fp"}}
    for m in (1, 3, 5):
        configs[f"M={m}, N={m}"] = {**base, "conv": abc_conv(m, m)}
    return configs


def time_sweep(jobs: int, data, configs):
    tic = time.perf_counter()
    result = run_sweep(
        configs,
        data=data,
        seeds=(0, 1),
        epochs=DEFAULT.epochs,
        batch_size=DEFAULT.batch_size,
        lr=DEFAULT.lr,
        jobs=jobs,
    )
    return time.perf_counter() - tic, result


def untimed(rows):
    return [{k: v for k, v in row.items() if not k.startswith("seconds")} for row in rows]


def time_reproduce(jobs: int | None) -> float:
    """Wall time of ``abcref reproduce`` (``--jobs jobs``, or its default) in its own process."""
    with tempfile.TemporaryDirectory() as tmp:
        flags = [] if jobs is None else ["--jobs", str(jobs)]
        command = [sys.executable, "-m", "abcref.cli", "reproduce", "--no-progress", *flags]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        tic = time.perf_counter()
        subprocess.run([*command, "--out", str(Path(tmp) / "out")], check=True, env=env,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        return time.perf_counter() - tic


def measure(rounds: int, reproduce: bool) -> dict:
    """Time the sweep (and ``abcref reproduce``); the measurements, with the date and machine."""
    from abcref.apps.reporting import machine

    data = load_digits()
    configs = sweep_configs()
    measured = {"date": datetime.date.today().isoformat(), "machine": machine()}
    measured["load_before"] = os.getloadavg()[0]
    best = {1: float("inf"), 2: float("inf")}
    results = {}
    for round_ in range(rounds):
        for jobs in (1, 2) if round_ % 2 == 0 else (2, 1):
            seconds, results[jobs] = time_sweep(jobs, data, configs)
            best[jobs] = min(best[jobs], seconds)
    measured.update(
        runs=len(results[1].rows),
        configs=len(configs),
        rounds=rounds,
        cores=default_jobs(),
        jobs1_seconds=best[1],
        jobs2_seconds=best[2],
        speedup=best[1] / best[2],
        identical=untimed(results[1].rows) == untimed(results[2].rows),
    )
    if reproduce:
        times = {1: float("inf"), None: float("inf")}
        for round_ in range(rounds):
            for jobs in (1, None) if round_ % 2 == 0 else (None, 1):
                times[jobs] = min(times[jobs], time_reproduce(jobs))
        measured["reproduce"] = {"jobs1_seconds": times[1], "default_seconds": times[None]}
    measured["load_after"] = os.getloadavg()[0]
    return measured


def report(m: dict) -> list[str]:
    """The lines the script prints."""
    lines = [
        f"sweep of {m['runs']} runs (reproduce's setting, {m['configs']} configs x 2 seeds), "
        f"best of {m['rounds']} rounds, {m['cores']} usable cores",
        f"  jobs=1: {m['jobs1_seconds']:6.1f} s",
        f"  jobs=2: {m['jobs2_seconds']:6.1f} s   ({m['speedup']:.2f}x faster; "
        f"same rows: {m['identical']})",
    ]
    if "reproduce" in m:
        r = m["reproduce"]
        lines += [
            f"abcref reproduce --jobs 1: {r['jobs1_seconds']:6.1f} s (best of {m['rounds']})",
            f"abcref reproduce (default, --jobs {m['cores']}): {r['default_seconds']:6.1f} s   "
            f"({r['default_seconds'] / r['jobs1_seconds']:.2f} of the --jobs 1 time)",
        ]
    lines.append(f"load average {m['load_before']:.2f} before, {m['load_after']:.2f} after")
    return lines


def markdown(m: dict) -> str:
    """The printed lines as a Markdown block naming the command, the date and the machine."""
    from abcref.apps.reporting import describe_machine

    command = "python benchmarks/bench_sweep.py" + (" --reproduce" if "reproduce" in m else "")
    return (
        f"`{command}` on {m['date']}, {describe_machine(m['machine'])}; other processes "
        "shared the machine (load averages below):\n\n"
        "```text\n" + "\n".join(report(m)) + "\n```\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--reproduce", action="store_true", help="also time abcref reproduce")
    parser.add_argument("--json", metavar="FILE", help="also write the measurements as JSON")
    parser.add_argument("--markdown", metavar="FILE", help="also write the output as Markdown")
    parser.add_argument("--render", metavar="JSON", help="measure nothing: report this JSON")
    args = parser.parse_args()
    if args.render:
        measured = json.loads(Path(args.render).read_text(encoding="utf-8"))
    else:
        measured = measure(args.rounds, args.reproduce)
    print("\n".join(report(measured)))
    if args.json:
        Path(args.json).write_text(json.dumps(measured, indent=1) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(markdown(measured), encoding="utf-8")
    if not measured["identical"]:
        raise SystemExit("jobs=1 and jobs=2 gave different rows")


if __name__ == "__main__":
    main()
