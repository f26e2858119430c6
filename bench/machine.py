"""What a benchmark ran on, so every published figure can say which machine produced it.

Figures from a 2-core machine that shares its cores with Azurite mean little without the
machine next to them; these helpers read it from the running system (Linux `/proc` when
present, with plain fallbacks elsewhere) and describe host.json's concurrency settings.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _proc_value(path: str, key: str) -> str | None:
    """The value of the first `key: value` line of a /proc file, or None off Linux."""
    try:
        for line in Path(path).read_text(errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
    except OSError:
        return None
    return None


def cpu_model() -> str:
    return _proc_value("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()


def ram_gib() -> float | None:
    total = _proc_value("/proc/meminfo", "MemTotal")  # "24684084 kB"
    return round(int(total.split()[0]) / 1024**2, 1) if total else None


def usable_cpus() -> int:
    """CPUs this process may run on (a container or taskset can allow fewer than exist)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def os_name() -> str:
    pretty = None
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return f"{pretty or platform.system()} ({platform.system()} {platform.release()})"


def azurite_version() -> str | None:
    try:
        return json.loads((ROOT / "node_modules" / "azurite" / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def machine_info() -> dict[str, Any]:
    """CPU, RAM, Python, OS, Azurite, load average and the date: the 'on what machine' of a figure."""
    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    return {
        "cpus": os.cpu_count(), "usable_cpus": usable_cpus(), "cpu_model": cpu_model(), "ram_gib": ram_gib(),
        "python": f"{platform.python_implementation()} {platform.python_version()}", "os": os_name(),
        "azurite": azurite_version(), "load_average_1min": load,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def describe_machine(info: dict[str, Any]) -> str:
    """One line for console output and the docs."""
    ram = f"{info['ram_gib']} GiB RAM" if info.get("ram_gib") else "RAM unknown"
    azurite = f", Azurite {info['azurite']}" if info.get("azurite") else ""
    return (f"{info['cpus']} CPUs ({info['cpu_model']}), {ram}, {info['python']}, {info['os']}{azurite}; "
            f"load average {info['load_average_1min']} at start; {info['date']}")


def host_json_settings() -> dict[str, Any]:
    """host.json's Durable concurrency settings, which bound how much work runs at once."""
    durable = json.loads((ROOT / "host.json").read_text())["extensions"]["durableTask"]
    provider = durable.get("storageProvider", {})
    return {
        "maxConcurrentActivityFunctions": durable.get("maxConcurrentActivityFunctions"),
        "maxConcurrentOrchestratorFunctions": durable.get("maxConcurrentOrchestratorFunctions"),
        "controlQueueBatchSize": provider.get("controlQueueBatchSize"),
        "partitionCount": provider.get("partitionCount"),
    }
