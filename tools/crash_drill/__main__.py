"""Crash-and-recovery drill for the three workflows on the local host (`python -m devhost`).

    python -m tools.crash_drill [--runs N] [--seed S] [--kills K] [--files F] [--orders O] [--leaves L]
                                [--kill-window SECONDS] [--leave-deadline SECONDS] [--keep-logs DIR]

Each run starts a private Azurite (in memory), seeds the sample data, uploads F batch files
(10% broken on purpose) and starts the host on a fresh task hub. Then, in threads: O orders
(races for the last GADGET-1, more MONITOR-1 asked than stocked, declined LAPTOP-1s), one
batch over the F files, and L leave requests, half of them decided while in flight, the
others left to expire at a short deadline. Meanwhile the host is SIGKILLed K times (the first
while workflows are being started, the others at uniform moments up to --kill-window seconds)
and restarted. Calls lost with the host are sent again with the same orderId / batchId (leave
starts are first looked for, as they carry no id). When every instance has finished, each
invariant is printed with its counts; any violation fails the run.

Runs use seeds S, S+1, ... and stop at the first failure; the exit status is 0 when all passed.
Host logs of a failed run are kept (and printed); --keep-logs DIR keeps every run's.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
from pathlib import Path

from tools.crash_drill.plan import make_plan
from tools.crash_drill.run import RunResult, run_once

LEAVE_DEADLINE_SLACK = 25  # seconds between the last possible decision and the deadline


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    kill_window = args.kill_window or max(8.0, args.files / 60)
    leave_deadline = args.leave_deadline or math.ceil(kill_window + LEAVE_DEADLINE_SLACK)
    if leave_deadline <= kill_window:
        _parser().error("--leave-deadline must be longer than --kill-window (decisions must come before it)")
    print(f"Crash drill: {args.runs} run(s) from seed {args.seed}; each {args.files} files, {args.orders} orders, "
          f"{args.leaves} leave requests (deadline {leave_deadline} s), {args.kills} kills within {kill_window:.1f} s")
    times: list[float] = []
    for number, seed in enumerate(range(args.seed, args.seed + args.runs), start=1):
        plan = make_plan(seed, files=args.files, orders=args.orders, leaves=args.leaves, kills=args.kills,
                         kill_window=kill_window, leave_deadline=leave_deadline)
        log_dir = _log_dir(args.keep_logs, seed)
        print(f"\nrun {number}/{args.runs} (seed {seed})", flush=True)
        try:
            result = run_once(plan, log_dir)
        except KeyboardInterrupt:
            print(f"interrupted; host logs in {log_dir}", file=sys.stderr)
            return 130
        _report(result)
        times.append(result.seconds)
        if not result.passed:
            print(f"  host logs kept in {log_dir}")
            print(f"\n{number - 1}/{args.runs} runs passed; run {number} (seed {seed}) FAILED")
            return 1
        if args.keep_logs is None:
            shutil.rmtree(log_dir, ignore_errors=True)
    print(f"\n{args.runs}/{args.runs} runs passed (" + ", ".join(f"{t:.1f} s" for t in times) + ")")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.crash_drill", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=_positive, default=1, help="runs, seeds seed..seed+runs-1 (default 1)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first run (default 1)")
    parser.add_argument("--kills", type=_count, default=3, help="SIGKILLs per run (default 3)")
    parser.add_argument("--files", type=_count, default=1000, help="batch files (default 1000)")
    parser.add_argument("--orders", type=_count, default=60, help="orders (default 60)")
    parser.add_argument("--leaves", type=_count, default=20, help="leave requests, half decided (default 20)")
    parser.add_argument("--kill-window", type=float, help="kills happen within this many seconds of the load's "
                        "start (default max(8, files / 60))")
    parser.add_argument("--leave-deadline", type=int, help="LEAVE_APPROVAL_TIMEOUT in seconds "
                        f"(default kill window + {LEAVE_DEADLINE_SLACK})")
    parser.add_argument("--keep-logs", type=Path, metavar="DIR", help="keep every run's host logs under DIR/seed-N")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _log_dir(keep: Path | None, seed: int) -> Path:
    if keep is None:
        return Path(tempfile.mkdtemp(prefix=f"crash-drill-{seed}-"))
    path = keep / f"seed-{seed}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _report(result: RunResult) -> None:
    if result.kills:
        moments = ", ".join(f"{kill.at:.1f} s (back after {kill.down:.1f} s)" for kill in result.kills)
        print(f"  kills at {moments}")
    for what, count in sorted(result.tally.counts.items()):
        print(f"  clients: {count} {what}")
    for check in result.checks:
        print(f"  [{'ok' if check.ok else 'FAIL'}] {check.name}: {check.rule} ({check.summary})")
        for problem in check.problems[:10]:
            print(f"        {problem}")
        if len(check.problems) > 10:
            print(f"        ... and {len(check.problems) - 10} more")
    for error in result.errors:
        print(f"  [FAIL] {error}")
    print(f"  host logs: {result.tracebacks} tracebacks")
    print(f"  {'PASSED' if result.passed else 'FAILED'} in {result.seconds:.1f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
