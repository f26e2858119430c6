"""Rerun the benchmarks in one go and regenerate docs/performance.md with its plots.

    python -m bench.report [--quick] [--out docs/performance] [--sections replay,fanout,orders,batch,load]
    python -m bench.report --render-only [--out docs/performance]

One process runs, one after the other (never two at once, so they do not compete for
the cores), the measurements behind the README's Performance table:
  replay  orchestrator replay CPU of the batch workflow, flat fan-out vs chunked
          sub-orchestrations, over batch sizes (bench.batch_replay's `measure`), and chunk
          sizes compared at the largest size;
  fanout  a flat fan-out with completions delivered 32 per episode vs one per episode
          (bench.fanout_replay's `measure`);
  orders  orders through the local host + Azurite vs the activities called directly
          (bench.order_throughput's functions);
  batch   files through the batch workflow vs ProcessFile called directly, host state in
          Azure Storage and in memory (bench.batch_e2e's functions);
  load    500 order starts and 20 batches at once (bench.load).
It writes `<out>/results.json`, the PNG plots in `<out>/` and `<out>.md` (for the default
out, docs/performance.md), every figure with how it was measured and on what machine.
`--sections` reruns only some; the others are kept from the existing results.json.
`--quick` runs tiny sizes (a smoke test, seconds to a minute; figures meaningless) into
bench-output/performance unless `--out` is given, so it never overwrites the docs.
`--render-only` redraws plots and markdown from results.json without measuring.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shlex
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench import batch_e2e, batch_replay, fanout_replay, load, order_throughput
from bench.machine import describe_machine, host_json_settings, machine_info
from devhost.spawn import start_devhost

ROOT = Path(__file__).resolve().parent.parent

SECTIONS = ("replay", "fanout", "orders", "batch", "load")
GOAL_MS_PER_FILE = 1.0
FULL: dict[str, Any] = {
    "flat": [100, 250, 500, 1000, 2000],  # quadratic: 2,000 files already cost ~9 s of CPU
    "chunked": [100, 250, 500, 1000, 2500, 5000, 10_000],
    "chunk": 50, "compare_chunks": [50, 100, 200, 500],
    "fanout": 1000,
    "orders": 200, "order_concurrency": 20,
    "e2e_files": 1000, "e2e_parallel": 10,
    "load": ["--orders", "500", "--batches", "20", "--files-per-batch", "50"],
}
QUICK: dict[str, Any] = {
    "flat": [20, 50, 100],
    "chunked": [50, 100, 200],
    "chunk": 50, "compare_chunks": [50, 100],
    "fanout": 30,
    "orders": 6, "order_concurrency": 3,
    "e2e_files": 12, "e2e_parallel": 4,
    "load": ["--orders", "8", "--batches", "2", "--files-per-batch", "4", "--skus", "2"],
}


# -- measuring --------------------------------------------------------------------------------


def measure_replay(sizes: dict[str, Any]) -> dict[str, Any]:
    """Orchestrator CPU of flat vs chunked batches over sizes, the flat model, and chunk sizes compared."""
    def row(design: str, files: int, chunk: int = 0) -> dict[str, Any]:
        result = asyncio.run(batch_replay.measure(design, files, chunk))
        return {"files": files, "chunk": chunk, **{k: round(v, 4) for k, v in result.items()}}

    flat = [row("flat", n) for n in sizes["flat"]]
    chunked = [row("chunked", n, sizes["chunk"]) for n in sizes["chunked"]]
    largest = max(sizes["chunked"])
    compare = [next(r for r in chunked if r["files"] == largest)]
    compare += [row("chunked", largest, c) for c in sizes["compare_chunks"] if c != sizes["chunk"]]
    a, b = batch_replay.quadratic_fit([(r["files"], r["cpu"]) for r in flat])
    model = [{"files": n, "cpu": round(a * n * n + b * n, 2)} for n in sizes["chunked"] if n > max(sizes["flat"])]
    flat_sizes, chunked_sizes = ",".join(map(str, sizes["flat"])), ",".join(map(str, sizes["chunked"]))
    return {
        "commands": [
            f"python -m bench.batch_replay --flat {flat_sizes} --files {chunked_sizes} --chunks {sizes['chunk']} "
            "--single-delivery 0",
            f"python -m bench.batch_replay --flat '' --files {largest} "
            f"--chunks {','.join(map(str, sorted(sizes['compare_chunks'])))} --single-delivery 0"],
        "settings": {"chunk_size": sizes["chunk"], "max_parallel_chunks": 10, "controlQueueBatchSize": 32,
                     "maxConcurrentActivityFunctions": 10, "maxConcurrentOrchestratorFunctions": 5,
                     "state": "memory (devhost.testing.LocalDurableHost)"},
        "flat": flat, "chunked": chunked, "compare": compare,
        "flat_model": {"a": a, "b": b, "fitted_to": [r["files"] for r in flat][-2:], "extrapolated": model},
    }


def measure_fanout(activities: int) -> dict[str, Any]:
    """A flat fan-out's lifetime orchestrator CPU: completions 32 per episode vs one per episode."""
    batched = asyncio.run(fanout_replay.measure(activities, 32))
    single = asyncio.run(fanout_replay.measure(activities, 1))
    return {"commands": [f"python -m bench.fanout_replay --activities {activities} --batch 32"],
            "settings": {"activities": activities, "state": "memory", "maxConcurrentActivityFunctions": 10},
            "batched": {k: round(v, 4) for k, v in batched.items()},
            "single": {k: round(v, 4) for k, v in single.items()},
            "ratio": round(single["cpu"] / batched["cpu"], 1)}


def measure_orders(orders: int, concurrency: int) -> dict[str, Any]:
    """bench.order_throughput's run: the four activities direct, then the workflow on devhost + Azurite (data
    in memory), then the workflow again with Azurite's data on disk, as `make run` keeps it."""
    direct, workflow, latencies = order_throughput.measure(orders, concurrency, None)
    with tempfile.TemporaryDirectory() as data:
        _, disk_workflow, _ = order_throughput.measure(orders, concurrency, Path(data))
    return {"commands": [f"python -m bench.order_throughput --orders {orders} --concurrency {concurrency} "
                         "--azurite both"],
            "disk_workflow_seconds": round(disk_workflow, 2),
            "disk_workflow_per_second": round(orders / disk_workflow, 2),
            "disk_ratio": round(disk_workflow / workflow, 2),
            "settings": {"orders": orders, "concurrency": concurrency, "host_json": host_json_settings()},
            "direct_seconds": round(direct, 2), "workflow_seconds": round(workflow, 2),
            "direct_per_second": round(orders / direct, 2), "workflow_per_second": round(orders / workflow, 2),
            "overhead": round(workflow / direct, 2), "latency": load.latency_summary(latencies),
            "single_latency_median": round(statistics.median(latencies), 3)}


def measure_batch(files: int, parallel: int) -> dict[str, Any]:
    """bench.batch_e2e's run, host state in Azure Storage and then in memory, against one upload."""
    from batch.settings import chunk_size, max_parallel_chunks
    from tools.batch_samples import upload_samples

    with load.private_azurite({}) as server, tempfile.TemporaryDirectory() as scratch:
        uploaded = upload_samples(count=files, invalid_ratio=0.1, prefix=batch_e2e.PREFIX, seed=11)
        names = [name for name in uploaded.expected if name.startswith(batch_e2e.PREFIX)]
        direct, counts = batch_e2e.run_direct(names, parallel)
        env = {"AzureWebJobsStorage": server.connection_string, "TASKHUB_NAME": "BenchBatchHub",
               "BATCH_MAX_FILES": str(max(files, 10_000))}
        workflow = {state: _batch_workflow(env, state, Path(scratch) / f"{state}.log", dict(counts))
                    for state in ("azure", "memory")}
        chunking = {"chunk_size": chunk_size(), "max_parallel_chunks": max_parallel_chunks()}
    return {"commands": [f"python -m bench.batch_e2e --files {files} --parallel {parallel}",
                         f"python -m bench.batch_e2e --files {files} --parallel {parallel} --state memory"],
            "settings": {"files": files, "parallel": parallel, "invalid_ratio": 0.1, **chunking,
                         "host_json": host_json_settings()},
            "counts": dict(counts), "direct_seconds": round(direct, 2),
            "direct_per_second": round(files / direct, 1),
            "workflow_seconds": {s: round(w, 2) for s, w in workflow.items()},
            "workflow_per_second": {s: round(files / w, 1) for s, w in workflow.items()},
            "ratio": {s: round(w / direct, 2) for s, w in workflow.items()}}


def _batch_workflow(env: dict[str, str], state: str, log_path: Path, expected: dict[str, int]) -> float:
    host = start_devhost(ROOT, log_path, env, timeout=30, extra_args=["--state", state])
    try:
        seconds, final = batch_e2e.run_workflow(host.base_url, 0.1 if sum(expected.values()) <= 2000 else 1.0)
    finally:
        host.stop()
    counts = {k: v for k, v in final["output"]["counts"].items() if v} if final.get("output") else None
    if final["runtimeStatus"] != "Completed" or counts != expected:
        raise RuntimeError(f"batch ({state} state) ended {final['runtimeStatus']} with {counts}, expected {expected}")
    return seconds


def measure_load(argv: list[str]) -> dict[str, Any]:
    """bench.load in this process; its own console report is printed as it would be.

    When an instance did not complete as expected the figures are kept (in results.json)
    but the section counts as failed, so the docs do not show them as a valid measurement."""
    result = load.run(load.parse_args(argv))
    for line in load.report_lines(result):
        print("    " + line)
    section = {**result, "commands": [result["command"]]}
    if not result["ok"]:
        section["error"] = (f"{len(result['problems'])} instances did not complete as expected, e.g. "
                            f"{'; '.join(result['problems'][:3])}")
    else:
        section.pop("host_log_tail")
    return section


def run_sections(names: Iterable[str], sizes: dict[str, Any]) -> dict[str, Any]:
    """Each section in turn; a failing one is recorded with its error and the others still run."""
    jobs: dict[str, Callable[[], dict[str, Any]]] = {
        "replay": lambda: measure_replay(sizes),
        "fanout": lambda: measure_fanout(sizes["fanout"]),
        "orders": lambda: measure_orders(sizes["orders"], sizes["order_concurrency"]),
        "batch": lambda: measure_batch(sizes["e2e_files"], sizes["e2e_parallel"]),
        "load": lambda: measure_load(sizes["load"]),
    }
    results = {}
    for name in names:
        print(f"[{name}] running ...", flush=True)
        machine, started = machine_info(), time.perf_counter()
        try:
            section = jobs[name]()
        except Exception as error:  # a report with the other sections is still worth having
            traceback.print_exc()
            section = {"error": f"{type(error).__name__}: {error}"}
        section.update(machine=machine, runtime_seconds=round(time.perf_counter() - started, 1))
        print(f"[{name}] done in {section['runtime_seconds']} s", flush=True)
        results[name] = section
    return results


# -- plots ------------------------------------------------------------------------------------


def _pyplot() -> Any:
    """pyplot on the Agg backend: no display needed (CI, ssh)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _footnote(fig: Any, text: str) -> None:
    fig.text(0.01, 0.01, text, fontsize=7, color="0.35", ha="left", va="bottom", wrap=True)


def machine_short(info: dict[str, Any]) -> str:
    return (f"{info.get('cpus')} CPUs ({info.get('cpu_model')}), {info.get('ram_gib')} GiB, {info.get('python')}, "
            f"{info.get('date')}")


def plot_replay(replay: dict[str, Any], path: Path) -> None:
    """CPU seconds vs batch size, log-log: flat (measured and model), chunked, and the 1 ms/file goal."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.2))
    flat, chunked, model = replay["flat"], replay["chunked"], replay["flat_model"]["extrapolated"]
    ax.plot([r["files"] for r in flat], [r["cpu"] for r in flat], "o-", color="tab:red", label="flat fan-out, measured")
    if model:
        xs = [flat[-1]["files"]] + [m["files"] for m in model]
        ys = [flat[-1]["cpu"]] + [m["cpu"] for m in model]
        ax.plot(xs, ys, "--", color="tab:red", alpha=0.6, label="flat fan-out, quadratic model (not run)")
    ax.plot([r["files"] for r in chunked], [r["cpu"] for r in chunked], "s-", color="tab:blue",
            label=f"chunked, {replay['settings']['chunk_size']} files per sub-orchestration")
    sizes = sorted({r["files"] for r in flat + chunked} | {m["files"] for m in model})
    ax.plot(sizes, [n * GOAL_MS_PER_FILE / 1000 for n in sizes], ":", color="0.3",
            label=f"goal: {GOAL_MS_PER_FILE:g} ms per file")
    ax.set(xscale="log", yscale="log", xlabel="files in the batch", ylabel="orchestrator CPU, seconds (lifetime)",
           title="Batch workflow: orchestrator replay CPU, flat vs chunked fan-out")
    _plain_log_ticks(ax, sizes)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    _footnote(fig, f"python -m bench.report; devhost in memory, controlQueueBatchSize 32, 10 activities / 5 "
                   f"orchestrators at a time; {machine_short(replay['machine'])}")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plain_log_ticks(ax: Any, sizes: list[int]) -> None:
    """Batch sizes as written (2,500), not as powers of ten, on a log axis."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_xticks(sizes)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.tick_params(axis="x", labelsize=8, labelrotation=30)


def plot_load_latency(result: dict[str, Any], path: Path) -> None:
    """p50/p95/p99 of accept and end-to-end latency, orders and batches side by side."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.6))
    percentiles = ("p50", "p95", "p99")
    for ax, measure, title in zip(axes, ("accept", "end_to_end"),
                                  ("accept (POST -> 202)", "end to end (POST -> finished seen)"), strict=True):
        for offset, (kind, color) in enumerate((("orders", "tab:blue"), ("batches", "tab:orange"))):
            summary = result[kind][measure]
            values = [summary.get(p, 0) for p in percentiles]
            xs = [i + (offset - 0.5) * 0.38 for i in range(len(percentiles))]
            bars = ax.bar(xs, values, width=0.38, color=color, label=f"{kind} (n={summary['count']})")
            ax.bar_label(bars, fmt="%.2f", fontsize=7)
        ax.set_xticks(range(len(percentiles)), percentiles)
        ax.set(title=title, ylabel="seconds")
        ax.set_ylim(0, ax.get_ylim()[1] * 1.25)  # room for the legend above the bars
        ax.legend(fontsize=8, loc="upper left")
    s = result["settings"]
    fig.suptitle(f"Latency under load: {s['orders']} orders + {s['batches']} batches x {s['files_per_batch']} "
                 "files started at once")
    _footnote(fig, f"{result['command']}; {machine_short(result['machine'])}")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_load_completions(result: dict[str, Any], path: Path) -> None:
    """Share of instances finished over time since the first start: the throughput curve under load."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.6))
    for kind, label, color in (("order", "orders", "tab:blue"), ("batch", "batches", "tab:orange")):
        times = [t for t, k in result["completions"] if k == kind]
        total = result[f"{label}"]["started"]
        if times and total:
            ax.step([0.0] + times, [0.0] + [100 * (i + 1) / total for i in range(len(times))], where="post",
                    color=color, label=f"{label} ({total})")
    ax.set(xlabel="seconds since the first start", ylabel="finished, % of started",
           title=f"Instances finished over time ({result['instances_per_second']:.2f} instances/s overall)")
    ax.set_ylim(0, 105)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    _footnote(fig, f"{result['command']}; {machine_short(result['machine'])}")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def throughput_bars(sections: dict[str, Any]) -> dict[str, list[tuple[str, float]]]:
    """(label, rate) pairs for the throughput plot, from whichever sections ran."""
    orders, batch, result = (sections.get(n, {}) for n in ("orders", "batch", "load"))
    bars: dict[str, list[tuple[str, float]]] = {"orders per second": [], "files per second": []}
    if "direct_per_second" in orders:
        c = orders["settings"]["concurrency"]
        bars["orders per second"] += [(f"activities direct, {c} threads", orders["direct_per_second"]),
                                      (f"workflow, {c} at a time", orders["workflow_per_second"])]
    if "direct_per_second" in batch:
        bars["files per second"] += [(f"ProcessFile direct, {batch['settings']['parallel']} threads",
                                      batch["direct_per_second"])]
        bars["files per second"] += [(f"workflow, {s} state", v) for s, v in batch["workflow_per_second"].items()]
    if "orders" in result and "error" not in result:
        bars["orders per second"].append(("workflow, during the load test", result["orders"]["per_second"]))
        bars["files per second"].append(("workflow, during the load test", result["batches"]["units_per_second"]))
    return bars


def plot_throughput(sections: dict[str, Any], path: Path) -> None:
    """Orders/s and files/s: the business work alone vs as a workflow, alone and under load."""
    plt = _pyplot()
    bars = throughput_bars(sections)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, (title, rows) in zip(axes, bars.items(), strict=True):
        drawn = ax.barh([label for label, _ in rows], [value for _, value in rows], color="tab:green")
        ax.bar_label(drawn, fmt="%.1f", fontsize=7)
        ax.invert_yaxis()
        ax.margins(x=0.18)
        ax.set(title=title)
        ax.tick_params(axis="y", labelsize=8)
    machine: dict[str, Any] = next((s["machine"] for s in sections.values() if "machine" in s), {})
    _footnote(fig, f"python -m bench.report (orders, batch, load sections); {machine_short(machine)}")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_plots(sections: dict[str, Any], out: Path) -> list[str]:
    """Every plot whose data is present; returns the file names written."""
    written = []
    plots = [("replay_cpu.png", "replay", plot_replay), ("load_latency.png", "load", plot_load_latency),
             ("load_completions.png", "load", plot_load_completions)]
    for name, section, draw in plots:
        if section in sections and "error" not in sections[section]:
            draw(sections[section], out / name)
            written.append(name)
    if any(throughput_bars(sections).values()):
        plot_throughput(sections, out / "throughput.png")
        written.append("throughput.png")
    return written


# -- markdown ---------------------------------------------------------------------------------


def table(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_line(info: dict[str, Any]) -> str:
    return f"**Machine:** {describe_machine(info)}." if info else "**Machine:** not recorded."


def how(section: dict[str, Any], text: str) -> str:
    commands = "\n".join(section.get("commands", []))
    runtime = f" This section took {section['runtime_seconds']} s." if "runtime_seconds" in section else ""
    return f"**How measured:** {text}{runtime} Equivalent standalone commands:\n\n```bash\n{commands}\n```"


def _missing(name: str, section: dict[str, Any] | None) -> str | None:
    if section is None:
        return f"_Not measured in this run (`python -m bench.report --sections {name}`)._"
    if "error" in section:
        return f"**This measurement failed:** `{section['error']}` ({machine_line(section.get('machine', {}))})"
    return None


def md_replay(replay: dict[str, Any], img: str) -> str:
    s = replay["settings"]
    rows = [[r["files"], "flat fan-out", r["episodes"], f"{r['cpu']:.2f}", f"{r['cpu'] / r['files'] * 1000:.3f}",
             f"{r['wall']:.1f}"] for r in replay["flat"]]
    rows += [[m["files"], "flat fan-out, **model** (not run)", "", f"{m['cpu']:.1f}",
              f"{m['cpu'] / m['files'] * 1000:.2f}", ""] for m in replay["flat_model"]["extrapolated"]]
    rows += [[r["files"], f"chunked, {r['chunk']} per chunk", r["episodes"], f"{r['cpu']:.2f}",
              f"{r['cpu'] / r['files'] * 1000:.3f}", f"{r['wall']:.1f}"] for r in replay["chunked"]]
    rows.sort(key=lambda row: (row[0], str(row[1])))
    compare = [[r["chunk"], r["files"], r["episodes"], f"{r['cpu']:.2f}", f"{r['cpu'] / r['files'] * 1000:.3f}"]
               for r in sorted(replay["compare"], key=lambda r: r["chunk"])]
    model = replay["flat_model"]
    goal_met = [r["files"] for r in replay["chunked"] if r["cpu"] / r["files"] * 1000 <= GOAL_MS_PER_FILE]
    return "\n\n".join([
        "## Orchestrator CPU against batch size: flat vs chunked fan-out",
        f"![Orchestrator CPU against batch size]({img})",
        how(replay, "the production `BatchProcessing_Orchestrator` / `BatchProcessing_Chunk` (chunked, "
            f"{s['chunk_size']} files per sub-orchestration, {s['max_parallel_chunks']} chunks at a time) and a "
            "flat orchestrator that calls ProcessFile for every file and waits for all, run on the local host "
            "in memory (`devhost.testing.LocalDurableHost`: no storage, trivial in-memory activities), "
            f"completions delivered up to {s['controlQueueBatchSize']} per episode, "
            f"{s['maxConcurrentActivityFunctions']} activities and {s['maxConcurrentOrchestratorFunctions']} "
            "orchestrator episodes at a time (host.json). CPU is the thread CPU time spent inside orchestrator "
            "invocations (the SDK's replay), summed over every episode of the parent and its chunks. The flat "
            "design grows with the square of the file count, so it runs only up to "
            f"{model['fitted_to'][-1]:,} files; above that its cost is the model "
            f"{model['a']:.3g}·N² + {model['b']:.3g}·N fitted to the two largest measured sizes "
            f"({', '.join(map(str, model['fitted_to']))})."),
        machine_line(replay["machine"]),
        table(["files", "design", "episodes", "orchestrator CPU, s", "ms per file", "wall, s"], rows),
        f"Goal: at most {GOAL_MS_PER_FILE:g} ms of orchestrator CPU per file; the chunked design meets it at "
        f"{', '.join(f'{n:,}' for n in goal_met) or 'none of the sizes'} files.",
        f"Chunk sizes compared at {replay['compare'][0]['files']:,} files:",
        table(["chunk size", "files", "episodes", "orchestrator CPU, s", "ms per file"], compare),
    ])


def md_fanout(fan: dict[str, Any]) -> str:
    n = fan["settings"]["activities"]
    rows = [[label, row["episodes"], row["history"], f"{row['cpu']:.2f}", f"{row['cpu'] / n * 1000:.2f}",
             f"{row['wall']:.1f}"] for label, row in (("up to 32 per episode", fan["batched"]),
                                                      ("1 per episode", fan["single"]))]
    return "\n\n".join([
        "## Flat fan-out: completions per episode",
        how(fan, f"one orchestrator fans out {n:,} trivial activities and waits for all, on the local host in "
                 "memory; the whole life of the instance is run twice in one process, completions applied up "
                 "to 32 per episode (`controlQueueBatchSize`, as the real dispatcher does) and then one per "
                 "episode. CPU as above (orchestrator invocations only)."),
        machine_line(fan["machine"]),
        table(["completions delivered", "episodes", "history events", "orchestrator CPU, s", "ms per activity",
               "wall, s"], rows),
        f"One completion per episode costs **{fan['ratio']}x** the orchestrator CPU of batched delivery.",
    ])


def md_orders(orders: dict[str, Any]) -> str:
    s, lat = orders["settings"], orders["latency"]
    return "\n\n".join([
        "## Orders through the local host",
        how(orders, f"one private Azurite (in memory) and the sample data; {s['orders']} orders, one SKU each "
                    f"(no contention on a stock row), {s['concurrency']} at a time. `direct`: the four activities "
                    "(CheckInventory, ProcessPayment, CreateOrder, SendConfirmationEmail) called as plain "
                    "functions in threads; `workflow`: `POST /api/OrderProcessing_Client` on `python -m devhost` "
                    "(state in Azure Storage tables and queues), each order's status URL polled every 0.25 s "
                    f"until Completed. host.json: {_host(s['host_json'])}."),
        machine_line(orders["machine"]),
        table(["run", "seconds", "orders/s"],
              [["activities direct", orders["direct_seconds"], orders["direct_per_second"]],
               ["workflow on devhost + Azurite", orders["workflow_seconds"], orders["workflow_per_second"]],
               *([["workflow, Azurite's data on disk (as `make run`)", orders["disk_workflow_seconds"],
                   orders["disk_workflow_per_second"]]] if "disk_ratio" in orders else [])]),
        f"Host overhead (workflow / direct): **{orders['overhead']}x**. Latency per order under that load "
        f"(HTTP start to Completed seen): p50 {lat.get('p50')} s, p95 {lat.get('p95')} s, max {lat.get('max')} s."
        + (f" Azurite with its data on disk (`make run` keeps it in `.azurite/`) against in memory: "
           f"**{orders['disk_ratio']}x** the time." if "disk_ratio" in orders else ""),
    ])


def md_batch(batch: dict[str, Any]) -> str:
    s = batch["settings"]
    rows = [["ProcessFile direct", f"{s['parallel']} threads", batch["direct_seconds"], batch["direct_per_second"],
             "1.00"]]
    rows += [["workflow on devhost", f"host state: {state}", batch["workflow_seconds"][state],
              batch["workflow_per_second"][state], f"{batch['ratio'][state]:.2f}"]
             for state in batch["workflow_seconds"]]
    return "\n\n".join([
        f"## {s['files']:,} files through the batch workflow",
        how(batch, f"one private Azurite; {s['files']:,} small synthetic files (5-20 records, about "
                   f"{s['invalid_ratio']:.0%} broken on purpose) uploaded with `tools.batch_samples`. `direct`: "
                   f"the ProcessFile activity function for every file in {s['parallel']} threads "
                   "(host.json allows 10 activities at once); `workflow`: `POST /api/BatchProcessing_Client "
                   "{\"prefix\": ...}` on `python -m devhost`, status polled until Completed (listing, queue "
                   "messages, history, replays, chunk reports and the merged report included), once with the "
                   "host's own state in Azure Storage and once in memory (business blobs in Azurite both times). "
                   f"Chunk size {s['chunk_size']}, {s['max_parallel_chunks']} chunks at a time; host.json: "
                   f"{_host(s['host_json'])}."),
        machine_line(batch["machine"]),
        table(["run", "setting", "seconds", "files/s", "x direct"], rows),
        f"File outcomes (the same in every run): {batch['counts']}.",
    ])


def md_load(result: dict[str, Any], latency_img: str, completions_img: str) -> str:
    s, o, b = result["settings"], result["orders"], result["batches"]

    def lat_rows() -> list[list[Any]]:
        rows = []
        for label, summary in (("order accept", o["accept"]), ("order end-to-end", o["end_to_end"]),
                               ("batch accept", b["accept"]), ("batch end-to-end", b["end_to_end"])):
            rows.append([label, summary["count"], *(summary.get(p, "") for p in ("p50", "p90", "p95", "p99", "max"))])
        return rows

    cpu = ", ".join(f"{k} {v:.1f} s" for k, v in result["cpu_seconds"].items() if v is not None)
    return "\n\n".join([
        f"## Load: {s['orders']} orders and {s['batches']} batches at once",
        f"![Latency under load]({latency_img})",
        f"![Instances finished over time]({completions_img})",
        how(result, f"one private Azurite; the sample catalogue plus {s['skus']} load SKUs with twice the stock "
                    f"the orders need; {s['batches']} x {s['files_per_batch']} files uploaded under one prefix per "
                    f"batch. `python -m devhost` ({s['state']} state; host.json: {_host(s['host_json'])}; chunk "
                    f"size {s['app_settings']['BATCH_CHUNK_SIZE']}, {s['app_settings']['BATCH_MAX_PARALLEL_CHUNKS']}"
                    f" chunks at a time). All {s['orders']} `POST /api/OrderProcessing_Client` (one unit each, SKUs "
                    f"in turn) and {s['batches']} `POST /api/BatchProcessing_Client {{\"prefix\": ...}}` are sent "
                    f"at once from one asyncio client (at most {s['concurrency']} in flight), batches interleaved "
                    f"with orders. Accept latency: request sent to 202 read. End-to-end: request sent to the poll "
                    f"tick that saw the instance finished ({s['poll']} polling every {s['poll_interval']} s, so "
                    "exact to that interval). Throughput: finished instances over the time from the first start "
                    "to the last completion. Every instance is checked: Completed, the expected output (orders) "
                    "or exactly the per-file outcomes uploaded (batches), and each SKU's stock down by exactly "
                    "the units ordered."),
        machine_line(result["machine"]),
        table(["", "orders", "batches"], [
            ["accepted (202)", f"{o['accepted']}/{o['started']}", f"{b['accepted']}/{b['started']}"],
            ["finished", _statuses(o["statuses"]), _statuses(b["statuses"])],
            ["with the expected output", o["expected_output"], b["expected_output"]],
            ["last one finished after, s", o["window_seconds"], b["window_seconds"]],
            ["throughput", f"{o['per_second']} orders/s", f"{b['units_per_second']} files/s ({b['units']} files)"],
        ]),
        f"Overall: **{o['accepted'] + b['accepted']} instances in {result['window_seconds']} s = "
        f"{result['instances_per_second']} instances/s**; "
        + ("every instance completed with the expected output, stock exact." if result.get("ok")
           else f"**problems:** {result.get('problems')}"),
        table(["latency, s", "n", "p50", "p90", "p95", "p99", "max"], lat_rows()),
        f"CPU seconds used during the run: {cpu} (wall {result['wall_seconds']} s on "
        f"{result['machine']['cpus']} CPUs).",
    ])


def md_throughput(sections: dict[str, Any], img: str) -> str:
    rows = [[title, label, value] for title, pairs in throughput_bars(sections).items() for label, value in pairs]
    return "\n\n".join([
        "## Throughput: the work alone, as a workflow, and under load",
        f"![Throughput]({img})",
        "**How measured:** the rates of the three host sections above, side by side: the business work called "
        "directly, the same work as a durable workflow on `python -m devhost` with Azurite, and the workflow "
        "while orders and batches run at the same time (load section). Each rate is from its own section; see "
        "there for command and machine.",
        table(["rate", "run", "value"], rows),
    ])


def summary_rows(sections: dict[str, Any]) -> list[list[str]]:
    """One headline per measured section, as in the README's Performance table."""
    rows = []
    replay = _ok(sections, "replay")
    if replay:
        top = max(replay["chunked"], key=lambda r: r["files"])
        flat = {r["files"]: r["cpu"] for r in replay["flat"]}
        flat |= {m["files"]: m["cpu"] for m in replay["flat_model"]["extrapolated"]}
        versus = (f"; flat fan-out {flat[top['files']]:.1f} s"
                  f"{' (model)' if top['files'] > max(r['files'] for r in replay['flat']) else ''}: "
                  f"**{flat[top['files']] / top['cpu']:.1f}x**") if top["files"] in flat else ""
        rows.append([f"orchestrator CPU of a {top['files']:,}-file batch", "chunked "
                     f"({top['chunk']} per chunk): **{top['cpu']:.2f} s ({top['cpu'] / top['files'] * 1000:.2f} "
                     f"ms per file)**{versus}"])
    fan = _ok(sections, "fanout")
    if fan:
        rows.append([f"flat fan-out of {fan['settings']['activities']:,} activities, orchestrator CPU",
                     f"32 completions per episode {fan['batched']['cpu']:.2f} s, one per episode "
                     f"{fan['single']['cpu']:.2f} s: **{fan['ratio']}x**"])
    orders = _ok(sections, "orders")
    if orders:
        rows.append([f"{orders['settings']['orders']} orders, {orders['settings']['concurrency']} at a time",
                     f"direct {orders['direct_per_second']} orders/s; workflow **{orders['workflow_per_second']} "
                     f"orders/s** ({orders['overhead']}x); latency p50 {orders['latency'].get('p50')} s"
                     + (f"; Azurite on disk (as `make run`) {orders['disk_ratio']}x the time"
                        if "disk_ratio" in orders else "")])
    batch = _ok(sections, "batch")
    if batch:
        ratios = ", ".join(f"{state} state **{r:.2f}x**" for state, r in batch["ratio"].items())
        rows.append([f"{batch['settings']['files']:,} files, workflow vs ProcessFile direct",
                     f"direct {batch['direct_seconds']} s; workflow {batch['workflow_seconds']['azure']} s; {ratios}"])
    result = _ok(sections, "load")
    if result:
        s, o, b = result["settings"], result["orders"], result["batches"]
        verdict = "all completed as expected" if result.get("ok") else "**NOT all completed as expected**"
        rows.append([f"load: {s['orders']} orders + {s['batches']} batches x {s['files_per_batch']} files at once",
                     f"{verdict}; **{result['instances_per_second']} instances/s**, {o['per_second']} orders/s, "
                     f"{b['units_per_second']} files/s; order end-to-end p50/p95/p99 "
                     f"{o['end_to_end'].get('p50')}/{o['end_to_end'].get('p95')}/{o['end_to_end'].get('p99')} s"])
    return rows


def md_summary(sections: dict[str, Any]) -> str:
    rows = summary_rows(sections)
    return "## Summary\n\n" + (table(["what", "result"], rows) if rows else "_Nothing measured yet._")


def _ok(sections: dict[str, Any], name: str) -> dict[str, Any] | None:
    section = sections.get(name)
    return section if section and "error" not in section else None


def _host(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in settings.items())


def _statuses(statuses: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in statuses.items()) or "none"


def render_markdown(results: dict[str, Any], out: Path, images: list[str]) -> str:
    """docs/performance.md, from the results alone (so `--render-only` gives the same text)."""
    sections, rel = results["sections"], out.name

    def img(name: str) -> str:
        return f"{rel}/{name}"

    parts = ["# Performance",
             f"Generated by `{results['command']}` on {results['generated']} (sections rerun: "
             f"{', '.join(results['rerun'])}). Do not edit by hand: rerun the command (`--sections NAME` reruns "
             f"one measurement, `--render-only` only redraws). Raw figures: [{rel}/results.json]({rel}/results.json)."]
    if results.get("quick"):
        parts.append("> **Smoke run (`--quick`)**: tiny sizes, only to check that the benchmarks and this page "
                     "work. The figures below mean nothing.")
    parts += ["All figures come from one machine, one measurement after another (never two at once); storage is "
              "a private in-memory Azurite on the same machine, so on a small machine the emulator, the host and "
              "its worker share the cores. Ratios within one run are more meaningful than absolute rates.",
              machine_line(results["machine"]), md_summary(sections)]
    builders: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("replay", lambda s: md_replay(s, img("replay_cpu.png"))),
        ("fanout", md_fanout),
        ("orders", md_orders),
        ("batch", md_batch),
        ("load", lambda s: md_load(s, img("load_latency.png"), img("load_completions.png"))),
    ]
    titles = {"replay": "Orchestrator CPU against batch size", "fanout": "Flat fan-out: completions per episode",
              "orders": "Orders through the local host", "batch": "Files through the batch workflow",
              "load": "Load: orders and batches at once"}
    for name, build in builders:
        missing = _missing(name, sections.get(name))
        parts.append(f"## {titles[name]}\n\n{missing}" if missing else build(sections[name]))
    if "throughput.png" in images:
        parts.append(md_throughput(sections, img("throughput.png")))
    return "\n\n".join(parts) + "\n"


# -- the command ------------------------------------------------------------------------------


def write_outputs(results: dict[str, Any], out: Path) -> Path:
    """results.json, the plots and the markdown next to `out`; returns the markdown's path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    images = draw_plots(results["sections"], out)
    markdown = out.parent / f"{out.name}.md"
    markdown.write_text(render_markdown(results, out, images))
    return markdown


def previous_sections(out: Path, quick: bool) -> dict[str, Any]:
    """Sections kept from an earlier run into the same place (same mode only)."""
    try:
        earlier = json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        return {}
    return earlier.get("sections", {}) if bool(earlier.get("quick")) == quick else {}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, figures meaningless")
    parser.add_argument("--out", type=Path, help="folder for results.json and the PNGs; the markdown is <out>.md "
                                                 "(default docs/performance; with --quick bench-output/performance)")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"which measurements to rerun, comma-separated (default all: {','.join(SECTIONS)})")
    parser.add_argument("--render-only", action="store_true", help="redraw from <out>/results.json, measure nothing")
    args = parser.parse_args(argv)
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {','.join(SECTIONS)}")
    if args.out is None:
        args.out = ROOT / ("bench-output/performance" if args.quick else "docs/performance")
    return args


def command(args: argparse.Namespace) -> str:
    """The command as typed, without --out (a local path does not belong in the docs)."""
    words = ["python", "-m", "bench.report"] + (["--quick"] if args.quick else [])
    if list(args.sections) != list(SECTIONS):
        words += ["--sections", ",".join(args.sections)]
    return shlex.join(words)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render_only:
        if not (args.out / "results.json").exists():
            print(f"bench.report: no {args.out / 'results.json'} to render; run without --render-only first",
                  file=sys.stderr)
            return 2
        results = json.loads((args.out / "results.json").read_text())
    else:
        sections = previous_sections(args.out, args.quick)
        sections.update(run_sections(args.sections, QUICK if args.quick else FULL))
        results = {"command": command(args),
                   "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "quick": args.quick,
                   "rerun": args.sections, "machine": machine_info(), "sections": sections}
    markdown = write_outputs(results, args.out)
    failed = [name for name, section in results["sections"].items() if "error" in section]
    print(f"wrote {markdown} and {args.out}/ ({', '.join(sorted(p.name for p in args.out.iterdir()))})")
    if failed:
        print(f"FAILED sections: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
