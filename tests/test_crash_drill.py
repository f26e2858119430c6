"""`python -m tools.crash_drill` at a small size, so the suite covers the drill script itself.

The full drill (1,000 files, 60 orders, 20 leave requests, 3 kills, ten runs) is `make crash-drill`;
this runs one small run as a subprocess, exactly as a user would, with its own Azurite and host.
CRASH_TEST_SEED picks another seed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devhost.spawn import ROOT

CHECKS = ("instances", "history", "orders", "payments", "stock", "outbox", "batch", "leave")


def test_a_small_crash_drill_passes(tmp_path: Path) -> None:
    seed = os.environ.get("CRASH_TEST_SEED", "7")
    command = [sys.executable, "-m", "tools.crash_drill", "--seed", seed, "--files", "60", "--orders", "12",
               "--leaves", "6", "--kills", "2", "--kill-window", "6", "--leave-deadline", "25",
               "--keep-logs", str(tmp_path)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "1/1 runs passed" in output
    for check in CHECKS:
        assert f"[ok] {check}:" in output, output
    assert "kills at " in output and output.count("(back after") == 2, output
