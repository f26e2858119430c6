"""bench.report and bench.load: the figures reach the plots and docs/performance.md, and failures are caught.

The full report takes minutes; here the rendering runs on given figures, the load
checker on hand-made outcomes, and one tiny real run (`--quick`: replay, fan-out and
a load of a few orders and batches on a real devhost + Azurite) goes end to end.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import load, report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MACHINE = {"cpus": 2, "usable_cpus": 2, "cpu_model": "Test CPU 9000", "ram_gib": 7.5, "python": "CPython 3.11.7",
           "os": "TestOS 1", "azurite": "3.35.0", "load_average_1min": 0.5, "date": "2026-01-02 03:04 UTC"}
HOST_JSON = {"maxConcurrentActivityFunctions": 10, "maxConcurrentOrchestratorFunctions": 5,
             "controlQueueBatchSize": 32, "partitionCount": 4}


def latency(p50: float, top: float, count: int) -> dict[str, Any]:
    return {"count": count, "p50": p50, "p90": top - 0.3, "p95": top - 0.2, "p99": top - 0.1, "max": top,
            "mean": p50}


def given_results() -> dict[str, Any]:
    """Figures shaped like bench.report's, with numbers easy to find in the output."""
    common = {"machine": MACHINE, "runtime_seconds": 12.3, "commands": ["python -m bench.x"]}
    replay = {**common, "settings": {"chunk_size": 50, "max_parallel_chunks": 10, "controlQueueBatchSize": 32,
                                     "maxConcurrentActivityFunctions": 10, "maxConcurrentOrchestratorFunctions": 5},
              "flat": [{"files": 1000, "chunk": 0, "cpu": 2.111, "episodes": 33, "wall": 3.0, "parent_history": 2068},
                       {"files": 2000, "chunk": 0, "cpu": 8.642, "episodes": 65, "wall": 12.0,
                        "parent_history": 4130}],
              "chunked": [{"files": 1000, "chunk": 50, "cpu": 0.444, "episodes": 90, "wall": 1.0,
                           "parent_history": 60},
                          {"files": 10000, "chunk": 50, "cpu": 6.912, "episodes": 900, "wall": 14.0,
                           "parent_history": 600}],
              "compare": [{"files": 10000, "chunk": 50, "cpu": 6.912, "episodes": 900, "wall": 14.0,
                           "parent_history": 600},
                          {"files": 10000, "chunk": 200, "cpu": 13.37, "episodes": 300, "wall": 20.0,
                           "parent_history": 150}],
              "flat_model": {"a": 2.17e-6, "b": 0.0, "fitted_to": [1000, 2000],
                             "extrapolated": [{"files": 10000, "cpu": 217.0}]}}
    fanout = {**common, "settings": {"activities": 1000}, "ratio": 48.1,
              "batched": {"episodes": 33, "cpu": 1.96, "wall": 2.0, "history": 2068},
              "single": {"episodes": 1001, "cpu": 94.2, "wall": 99.0, "history": 4004}}
    orders = {**common, "settings": {"orders": 200, "concurrency": 20, "host_json": HOST_JSON},
              "direct_seconds": 5.67, "workflow_seconds": 19.05, "direct_per_second": 35.27,
              "workflow_per_second": 10.5, "overhead": 3.36, "latency": latency(1.9, 2.4, 200),
              "single_latency_median": 1.9}
    batch = {**common, "settings": {"files": 1000, "parallel": 10, "invalid_ratio": 0.1, "chunk_size": 50,
                                    "max_parallel_chunks": 10, "host_json": HOST_JSON},
             "counts": {"succeeded": 900, "invalid": 83, "empty": 17}, "direct_seconds": 6.54,
             "direct_per_second": 152.9, "workflow_seconds": {"azure": 14.44, "memory": 10.01},
             "workflow_per_second": {"azure": 69.3, "memory": 99.9}, "ratio": {"azure": 2.21, "memory": 1.53}}
    load_result = {
        **common, "command": "python -m bench.load --orders 500", "ok": True, "problems": [],
        "settings": {"orders": 500, "batches": 20, "files_per_batch": 50, "skus": 20, "concurrency": 520,
                     "poll": "query", "poll_interval": 1.0, "state": "azure", "host_json": HOST_JSON,
                     "app_settings": {"BATCH_CHUNK_SIZE": "50", "BATCH_MAX_PARALLEL_CHUNKS": "10"}},
        "wall_seconds": 88.8, "window_seconds": 87.65, "instances_per_second": 5.93,
        "orders": {"started": 500, "accepted": 500, "statuses": {"Completed": 500}, "expected_output": 500,
                   "window_seconds": 70.25, "per_second": 7.12, "units": 500, "units_per_second": 7.12,
                   "accept": latency(1.23, 4.56, 500), "end_to_end": latency(42.42, 69.69, 500)},
        "batches": {"started": 20, "accepted": 20, "statuses": {"Completed": 20}, "expected_output": 20,
                    "window_seconds": 87.65, "per_second": 0.23, "units": 1000, "units_per_second": 11.41,
                    "accept": latency(0.77, 3.21, 20), "end_to_end": latency(80.08, 87.6, 20)},
        "cpu_seconds": {"azurite": 60.1, "host": 50.2, "worker": 40.3, "load generator": 2.4},
        "completions": [[float(t), "order"] for t in range(1, 71)] + [[80.0 + t / 4, "batch"] for t in range(20)],
    }
    sections = {"replay": replay, "fanout": fanout, "orders": orders, "batch": batch, "load": load_result}
    return {"command": "python -m bench.report", "generated": "2026-01-02 03:04 UTC", "quick": False,
            "rerun": list(sections), "machine": MACHINE, "sections": sections}


def assert_pngs(folder: Path, names: list[str]) -> None:
    for name in names:
        data = (folder / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, name


def test_given_figures_become_plots_tables_and_machine_lines(tmp_path: Path) -> None:
    out = tmp_path / "performance"
    markdown = report.write_outputs(given_results(), out)
    assert markdown == tmp_path / "performance.md"
    assert_pngs(out, ["replay_cpu.png", "load_latency.png", "load_completions.png", "throughput.png"])
    assert json.loads((out / "results.json").read_text())["sections"]["orders"]["overhead"] == 3.36
    text = markdown.read_text()
    for image in ("replay_cpu.png", "load_latency.png", "load_completions.png", "throughput.png"):
        assert f"](performance/{image})" in text
    # Each figure says how it was measured and on what machine.
    assert text.count("**How measured:**") == 6
    assert text.count("Test CPU 9000") >= 6 and "7.5 GiB RAM" in text and "TestOS 1" in text
    for number in ("6.91", "0.691", "217.0", "8.64", "48.1x", "94.20", "10.5", "3.36x", "14.44", "2.21",
                   "1.53", "5.93 instances/s", "7.12 orders/s", "11.41 files/s", "42.42", "69.69", "80.08",
                   "500/500", "20/20"):
        assert number in text, number
    assert "chunked design meets it at 1,000, 10,000 files" in text
    assert "Smoke run" not in text and "Not measured" not in text


def test_missing_and_failed_sections_are_said_so(tmp_path: Path) -> None:
    results = given_results()
    del results["sections"]["orders"], results["sections"]["batch"]
    results["sections"]["fanout"] = {"error": "RuntimeError: boom", "machine": MACHINE}
    text = report.write_outputs(results, tmp_path / "perf").read_text()
    assert "--sections orders" in text and "--sections batch" in text
    assert "**This measurement failed:** `RuntimeError: boom`" in text
    assert "workflow, during the load test" in text  # the throughput plot keeps what it has
    assert_pngs(tmp_path / "perf", ["throughput.png", "replay_cpu.png"])


def test_a_quick_real_run_measures_renders_and_keeps_earlier_sections(tmp_path: Path) -> None:
    out = tmp_path / "perf"
    assert report.main(["--quick", "--out", str(out), "--sections", "replay,fanout,load"]) == 0
    results = json.loads((out / "results.json").read_text())
    replay, result = results["sections"]["replay"], results["sections"]["load"]
    assert result["ok"] and result["orders"]["expected_output"] == result["settings"]["orders"]
    assert result["batches"]["statuses"] == {"Completed": result["settings"]["batches"]}
    text = (tmp_path / "perf.md").read_text()
    assert "Smoke run" in text and "python -m bench.report --quick --sections replay,fanout,load" in text
    assert f"{replay['chunked'][-1]['cpu']:.2f}" in text and f"{result['instances_per_second']} instances/s" in text
    assert "--sections orders" in text  # not measured in this run
    assert_pngs(out, ["replay_cpu.png", "load_latency.png", "load_completions.png", "throughput.png"])
    # Rerunning one section keeps the others; rendering alone measures nothing.
    assert report.main(["--quick", "--out", str(out), "--sections", "fanout"]) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["sections"]["load"] == result and again["rerun"] == ["fanout"]
    assert report.main(["--render-only", "--out", str(out)]) == 0


def test_percentiles_interpolate_between_ranks() -> None:
    assert load.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert load.percentile([5.0], 99) == 5.0
    assert load.percentile(list(map(float, range(101))), 95) == pytest.approx(95.0)
    assert load.latency_summary([]) == {"count": 0}


def test_interleave_spreads_batches_and_keeps_everything() -> None:
    orders = load.order_starts(10, ["S1", "S2"], "t")
    batches = [load.Start("batch", load.BATCH_CLIENT, {"batchId": f"b{i}"}, {}, units=5) for i in range(3)]
    merged = load.interleave(orders, batches)
    assert len(merged) == 13 and [merged.index(b) for b in batches] == [0, 5, 10]
    assert [s.body["items"][0]["sku"] for s in orders[:3]] == ["S1", "S2", "S1"]


def finished(start: load.Start, status: str, output: Any, *, sent: float = 0.0, done: float = 2.0) -> load.Start:
    start.sent, start.accepted, start.done, start.http_status = sent, sent + 0.1, done, 202
    start.status_url, start.instance_id = "http://x/status", "id"
    start.final = {"runtimeStatus": status, "output": output}
    return start


def test_only_completed_instances_with_the_expected_output_pass() -> None:
    good, wrong_text, failed, refused, lost = load.order_starts(5, ["S1"], "t")
    finished(good, "Completed", good.expected)
    finished(wrong_text, "Completed", "Order x failed: Inventory not available.")
    finished(failed, "Failed", None)
    refused.http_status, refused.error = 409, "start answered 409: {}"
    lost.sent, lost.accepted, lost.http_status, lost.status_url = 0.0, 0.1, 202, "http://x/status"
    expected = {"total": 3, "counts": {"succeeded": 2, "invalid": 1, "empty": 0, "missing": 0, "failed": 0}}
    batch = finished(load.Start("batch", load.BATCH_CLIENT, {"batchId": "b"}, expected, units=3), "Completed",
                     {"total": 3, "counts": {**expected["counts"], "succeeded": 1, "failed": 1}})
    found = load.problems([good, wrong_text, failed, refused, lost, batch], ["stock of S1: 3, expected 4"])
    assert len(found) == 6 and not any(good.body["orderId"] in line for line in found)
    assert any("409" in line for line in found) and any("not seen finished" in line for line in found)
    figures = load.kind_figures([good, wrong_text, failed, refused, lost], t0=0.0)
    assert figures["accepted"] == 4 and figures["expected_output"] == 1
    assert figures["statuses"] == {"Completed": 2, "Failed": 1, "not finished": 1}
    assert figures["end_to_end"]["count"] == 3 and figures["end_to_end"]["p50"] == 2.0


def test_the_load_command_fails_when_an_instance_did_not_complete(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = {**given_results()["sections"]["load"], "ok": False, "host_log_tail": "Traceback: boom",
              "problems": ["order L1-00007: Failed with output null (expected \"Order L1-00007 processed ...\")"]}
    monkeypatch.setattr(load, "run", lambda args: result)
    assert load.main(["--orders", "1", "--batches", "0", "--json", str(tmp_path / "load.json")]) == 1
    printed = capsys.readouterr().out
    assert "FAILED: 1 problems" in printed and "L1-00007" in printed and "Traceback: boom" in printed
    assert json.loads((tmp_path / "load.json").read_text())["ok"] is False
