"""checkov's Azure policy checks on infra/*.bicep: zero failed checks, zero parse errors, and every
skip justified next to it in the Bicep (`//checkov:skip=CKV_AZURE_xxx: reason`, inside the resource).

checkov has heavy dependencies, so it lives in its own virtual environment, .venv-checkov (see
requirements-infra.txt; `make` creates it). This test FAILS when that environment is missing: a
suite that silently skips its policy checks would let insecure infrastructure through.
CHECKOV_VENV=<path> points the test at another environment. Runs offline (--skip-download).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
VENV = Path(os.environ.get("CHECKOV_VENV") or ROOT / ".venv-checkov")
CHECKOV = VENV / "bin" / "checkov"
PYCEP_VERSION = "0.7.1"
SETUP_HINT = (
    "create it with `make infra-venv`, or by hand:\n"
    "  python3.11 -m venv .venv-checkov\n"
    "  .venv-checkov/bin/pip install -r requirements-infra.txt\n"
    f"  .venv-checkov/bin/pip install --no-deps pycep-parser=={PYCEP_VERSION}"
)
SKIP_COMMENT = re.compile(r"checkov:skip=([A-Z0-9_,]+)(?::\s*(.*))?")
MIN_REASON = 20  # characters: a reason, not a placeholder


def run_checkov(directory: Path) -> tuple[int, list[dict[str, Any]], str]:
    env = {
        **os.environ,
        "CKV_PARSE_ERROR_FAIL": "true",  # a template checkov cannot parse is a failure, not a pass
        "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",  # no PyPI look-up
        "LOG_LEVEL": "WARNING",
    }
    result = subprocess.run(
        [str(CHECKOV), "-d", str(directory), "--framework", "bicep", "--skip-download", "-o", "json", "--compact"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov printed no JSON (exit {result.returncode}):\n"
                    f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    reports = report if isinstance(report, list) else [report]
    return result.returncode, reports, result.stderr


@pytest.fixture(scope="module")
def checkov_available() -> None:
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed: {CHECKOV} is missing; {SETUP_HINT}")
    version = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('pycep-parser'))"],
        capture_output=True, text=True, timeout=60,
    ).stdout.strip()
    if version != PYCEP_VERSION:
        pytest.fail(f"{VENV} has pycep-parser {version or '(none)'}; checkov needs {PYCEP_VERSION} for current Bicep: "
                    f"{VENV}/bin/pip install --no-deps pycep-parser=={PYCEP_VERSION}")


@pytest.fixture(scope="module")
def infra_report(checkov_available: None) -> tuple[int, dict[str, Any]]:
    code, reports, stderr = run_checkov(INFRA)
    bicep_reports = [r for r in reports if r.get("check_type") == "bicep"]
    assert len(bicep_reports) == 1, f"no bicep report from checkov (exit {code}): {reports}\n{stderr[-4000:]}"
    return code, bicep_reports[0]


def _where(check: dict[str, Any]) -> str:
    lines = check.get("file_line_range") or ["?", "?"]
    return (f"infra{check['file_path']}:{lines[0]}-{lines[1]} {check['check_id']} {check['resource']}: "
            f"{check['check_name']}")


def test_no_failed_checks(infra_report: tuple[int, dict[str, Any]]) -> None:
    code, report = infra_report
    failed = report["results"]["failed_checks"]
    assert not failed, "checkov failed checks (fix them, or skip in the resource with a reason):\n" + \
        "\n".join(_where(check) for check in failed)
    assert not report["results"]["parsing_errors"], f"checkov could not parse: {report['results']['parsing_errors']}"
    assert code == 0


def test_checkov_really_checked_the_templates(infra_report: tuple[int, dict[str, Any]]) -> None:
    _, report = infra_report
    summary = report["summary"]
    assert summary["passed"] >= 15, summary
    results = report["results"]
    checked = {check["file_path"].lstrip("/")
               for kind in ("passed_checks", "skipped_checks") for check in results[kind]}
    assert {"main.bicep", "network.bicep"} <= checked, checked
    checked_types = {check["resource"].rsplit(".", 1)[0] for check in results["passed_checks"]}
    assert {"Microsoft.Storage/storageAccounts", "Microsoft.Web/sites"} <= checked_types


def test_every_skip_is_justified(infra_report: tuple[int, dict[str, Any]]) -> None:
    _, report = infra_report
    for check in report["results"]["skipped_checks"]:
        reason = (check.get("check_result") or {}).get("suppress_comment") or ""
        assert len(reason.strip()) >= MIN_REASON, f"{_where(check)}: skipped without a reason"


def test_skip_comments_in_the_bicep_name_a_check_and_a_reason() -> None:
    problems = []
    for path in sorted(INFRA.rglob("*.bicep")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = SKIP_COMMENT.search(line)
            if not match:
                continue
            checks, reason = match.group(1), (match.group(2) or "").strip()
            if not re.fullmatch(r"CKV2?_AZURE_\d+", checks) or len(reason) < MIN_REASON:
                problems.append(f"{path.name}:{number}: {line.strip()}")
    assert not problems, "each skip names one check and gives a reason:\n" + "\n".join(problems)


def test_parse_errors_fail_the_run(checkov_available: None, tmp_path: Path) -> None:
    """The safety net works: a template checkov cannot parse makes the run fail instead of passing empty."""
    (tmp_path / "broken.bicep").write_text("resource x 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name:\n")
    code, reports, _ = run_checkov(tmp_path)
    assert code != 0
    assert any(r.get("results", {}).get("parsing_errors") for r in reports), reports
