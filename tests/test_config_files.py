"""The repository's configuration: host.json, local settings, requirements, ignore files, CI entry."""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
import subprocess
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import pytest
from jsonschema.exceptions import best_match
from packaging.requirements import Requirement

from tools import lock, schemas

ROOT = Path(__file__).resolve().parent.parent

# Documented host.json fields that SchemaStore's host schema (additionalProperties: false) rejects.
# Each stays in host.json; validation runs on a copy without it. Path -> where it is documented.
SCHEMA_EXCEPTIONS: dict[tuple[str, ...], str] = {
    ("extensions", "durableTask", "overridableExistingInstanceStates"): (
        "https://learn.microsoft.com/dotnet/api/microsoft.azure.webjobs.extensions.durabletask"
        ".durabletaskoptions.overridableexistinginstancestates"
        " (DurableTaskOptions.OverridableExistingInstanceStates: NonRunningStates | AnyState; host.json"
        " `extensions.durableTask` binds to DurableTaskOptions)"
    ),
}

DEPLOYED_PACKAGES = {
    "azure-functions", "azure-functions-runtime", "azure-functions-durable", "azure-data-tables", "azure-storage-blob",
    "azure-identity",
}
APP_FILES = {"function_app.py", "host.json", "requirements.txt"}
APP_DIRS = {"activities", "orchestrators", "clients", "common", "orders", "batch", "leave", "maintenance"}


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def schema(name: str) -> dict[str, Any]:
    """SchemaStore's schema, as `make setup` cached it (tools/schemas.py). Without it the check is skipped
    with the reason, except in CI, which has the project's shared folder and must run it."""
    path = schemas.find(name)
    if path is None:
        reason = (f"SchemaStore's {name} is not cached in {schemas.CACHE} nor in {schemas.SHARED}: "
                  "`make setup` (python -m tools.schemas) fetches it when SchemaStore can be reached")
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return load_json(path)


def validate(document: Any, schema_doc: dict[str, Any], label: str) -> None:
    validator_class = jsonschema.validators.validator_for(schema_doc)
    validator_class.check_schema(schema_doc)
    errors = list(validator_class(schema_doc).iter_errors(document))
    if errors:
        best = best_match(errors)
        details = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in best.context or [best]]
        pytest.fail(f"{label} does not validate against its schema:\n  " + "\n  ".join(details), pytrace=False)


@pytest.fixture(scope="module")
def host() -> dict[str, Any]:
    return load_json(ROOT / "host.json")


@pytest.fixture(scope="module")
def settings() -> dict[str, Any]:
    return load_json(ROOT / "local.settings.json.example")


# --- host.json -------------------------------------------------------------------------------


def test_host_json_validates_against_the_schema_except_documented_fields(host: dict[str, Any]) -> None:
    checked = copy.deepcopy(host)
    for path, documentation in SCHEMA_EXCEPTIONS.items():
        parent = checked
        for key in path[:-1]:
            parent = parent[key]
        assert path[-1] in parent, f"exception {'.'.join(path)} ({documentation}) is not in host.json: drop it"
        del parent[path[-1]]
    validate(checked, schema("host.schema.json"), "host.json")


def test_schema_exceptions_are_still_needed(host: dict[str, Any]) -> None:
    """Each exception is a field the schema really rejects; when SchemaStore catches up, drop it here."""
    host_schema = schema("host.schema.json")
    durable_props = host_schema["definitions"]["durableTask-extension"]["properties"]
    for path in SCHEMA_EXCEPTIONS:
        assert path[:2] == ("extensions", "durableTask")
        assert path[2] not in durable_props, f"the schema now knows {path[2]}: remove it from SCHEMA_EXCEPTIONS"


def test_host_json_uses_the_v4_extension_bundle(host: dict[str, Any]) -> None:
    assert host["version"] == "2.0"
    assert host["extensionBundle"] == {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}


def test_task_hub_name_comes_from_an_app_setting_the_example_defines(
    host: dict[str, Any], settings: dict[str, Any]
) -> None:
    hub = host["extensions"]["durableTask"]["hubName"]
    match = re.fullmatch(r"%([A-Za-z0-9_]+)%", hub)
    assert match, f"hubName should reference an app setting (%NAME%), got {hub!r}"
    value = settings["Values"].get(match.group(1))
    assert value, f"local.settings.json.example does not define {match.group(1)}"
    # Task hub names: letters and digits only, start with a letter, 3-45 characters.
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,44}", value), f"invalid task hub name {value!r}"


def test_durable_concurrency_fits_the_python_worker(host: dict[str, Any], settings: dict[str, Any]) -> None:
    """Sync orchestrator episodes and activities each hold one worker thread while they run.

    The host's limits must not exceed what the worker can run at once
    (FUNCTIONS_WORKER_PROCESS_COUNT x PYTHON_THREADPOOL_THREAD_COUNT), or invocations wait inside
    the worker while the host already counts them as running.
    """
    durable = host["extensions"]["durableTask"]
    values = settings["Values"]
    processes = int(values.get("FUNCTIONS_WORKER_PROCESS_COUNT", "1"))
    threads = int(values["PYTHON_THREADPOOL_THREAD_COUNT"])
    activities = durable["maxConcurrentActivityFunctions"]
    orchestrators = durable["maxConcurrentOrchestratorFunctions"]
    assert processes >= 1 and threads >= 1 and activities >= 1 and orchestrators >= 1
    assert activities + orchestrators <= processes * threads, (
        f"{activities} activities + {orchestrators} orchestrators exceed {processes} process(es) x {threads} threads"
    )


def test_azure_storage_provider_settings(host: dict[str, Any]) -> None:
    provider = host["extensions"]["durableTask"]["storageProvider"]
    assert 1 <= provider["partitionCount"] <= 16
    assert provider["controlQueueBatchSize"] == 32
    hours, minutes, seconds = map(int, provider["maxQueuePollingInterval"].split(":"))
    assert 0 < hours * 3600 + minutes * 60 + seconds <= 10, "keep maxQueuePollingInterval <= 10 s (Flex Consumption)"


def test_logging_and_sampling(host: dict[str, Any]) -> None:
    levels = host["logging"]["logLevel"]
    assert levels["default"] == "Information"
    assert levels["Host.Triggers.DurableTask"] == "Information"
    sampling = host["logging"]["applicationInsights"]["samplingSettings"]
    assert sampling["isEnabled"] is True
    assert set(sampling["excludedTypes"].split(";")) == {"Request", "Exception"}


# --- local.settings.json.example --------------------------------------------------------------


def test_local_settings_example_validates_against_the_schema(settings: dict[str, Any]) -> None:
    validate(settings, schema("local.settings.schema.json"), "local.settings.json.example")


def test_local_settings_example_values(settings: dict[str, Any]) -> None:
    assert settings["IsEncrypted"] is False
    values = settings["Values"]
    assert all(isinstance(v, str) for v in values.values()), "app settings are strings"
    assert not [k for k in values if ":" in k or "__" in k], "setting names cannot hold ':' or '__' locally"
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert values["AzureWebJobsFeatureFlags"] == "EnableWorkerIndexing"
    for name in ("PAYMENT_LIMIT", "ORDER_RETRY_FIRST_INTERVAL_MS", "ORDER_RETRY_MAX_ATTEMPTS"):
        assert values[name], name
    assert settings["Host"]["LocalHttpPort"] == 7071


# --- requirements ----------------------------------------------------------------------------


def requirement_lines(name: str) -> list[str]:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def test_requirements_are_pinned_and_deployed_ones_are_lean() -> None:
    deployed = requirement_lines("requirements.txt")
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==[0-9][^ ]*", line) for line in deployed), deployed
    direct, _ = lock.split((ROOT / "requirements.txt").read_text(encoding="utf-8"))
    assert {pin.split("==")[0].lower() for pin in lock.direct_pins(direct)} == DEPLOYED_PACKAGES
    dev = requirement_lines("requirements-dev.txt")
    assert dev[0] == "-r requirements.txt"
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==[0-9][^ ]*", line) for line in dev[1:]), dev
    assert not {canonical(line.split("==")[0]) for line in dev[1:]} & {canonical(line.split("==")[0])
                                                                     for line in deployed}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_closure(roots: set[str]) -> set[str]:
    """Every installed distribution `roots` need on this platform (markers evaluated, no extras)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = canonical(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def test_everything_the_deployed_app_installs_is_locked() -> None:
    """Below the direct pins, requirements.txt locks exactly their dependencies (`make lock` after a bump)."""
    direct, locked = lock.split((ROOT / "requirements.txt").read_text(encoding="utf-8"))
    closure = dependency_closure({pin.split("==")[0] for pin in lock.direct_pins(direct)})
    pinned = {canonical(pin.split("==")[0]) for pin in [*lock.direct_pins(direct), *locked]}
    assert sorted(closure - pinned) == [], "not locked: run `make lock`"
    assert sorted(pinned - closure) == [], "locked but not needed: run `make lock`"


def test_lock_renders_direct_pins_then_the_rest_sorted() -> None:
    head = ["# the app", "zeta==1.0", "Alpha==2.0"]
    text = lock.render(head, {"Alpha": "2.0", "zeta": "1.0", "beta": "3.1", "Gamma": "0.1"})
    assert text.splitlines() == [*head, lock.MARKER, "beta==3.1", "Gamma==0.1"]
    assert lock.split(text) == (head, ["beta==3.1", "Gamma==0.1"])
    assert lock.render(lock.split(text)[0], {"Alpha": "2.0", "zeta": "1.0", "beta": "3.1", "Gamma": "0.1"}) == text


def test_installed_versions_match_the_pins() -> None:
    """The environment running the tests is the one the requirements describe (`make setup`)."""
    wrong = []
    for line in requirement_lines("requirements.txt") + requirement_lines("requirements-dev.txt")[1:]:
        name, version = line.split("==")
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "missing"
        if installed != version:
            wrong.append(f"{name}: pinned {version}, installed {installed}")
    assert not wrong, "run `make setup`: " + "; ".join(wrong)


# --- .funcignore / .gitignore ------------------------------------------------------------------


def ignore_patterns(path: Path) -> list[str]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def excluded(path: str, patterns: list[str]) -> bool:
    """gitignore-style matching (the syntax .funcignore uses), enough for the patterns we write."""
    parts = PurePosixPath(path).parts
    for pattern in patterns:
        assert not pattern.startswith("!"), "negated .funcignore patterns are not supported by this check"
        dir_only = pattern.endswith("/")
        body = pattern.rstrip("/").lstrip("/")
        anchored = "/" in body or pattern.startswith("/")
        for depth in range(1, len(parts) + 1):
            if dir_only and depth == len(parts):
                continue  # the last part is the file itself
            if anchored:
                if fnmatch.fnmatchcase("/".join(parts[:depth]), body):
                    return True
            elif fnmatch.fnmatchcase(parts[depth - 1], body):
                return True
    return False


def in_app_package(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return path in APP_FILES or (len(parts) > 1 and parts[0] in APP_DIRS)


def repository_files() -> list[str]:
    result = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return [line for line in result.stdout.splitlines() if line]


def test_funcignore_keeps_only_the_app() -> None:
    patterns = ignore_patterns(ROOT / ".funcignore")
    must_go = [
        "tests/conftest.py", "devhost/engine.py", "tools/azurite.py", "infra/main.bicep",
        "node_modules/azurite/package.json", ".venv/bin/python", ".git/HEAD", ".gitignore", ".ci/run",
        "local.settings.json", "local.settings.json.example", "requirements-dev.txt", "Makefile", "package.json",
        "package-lock.json", "pyproject.toml", "README.md", "docs/design.md", ".azurite/__azurite_db_table__.json",
        "common/__pycache__/storage.cpython-311.pyc", ".vscode/launch.json", "azure.yaml",
    ]
    assert not [p for p in must_go if not excluded(p, patterns)], "these would be deployed"
    must_stay = [
        "function_app.py", "host.json", "requirements.txt", "activities/order_activities.py",
        "orchestrators/order_orchestrator.py", "clients/order_client.py", "common/storage.py", "common/__init__.py",
        "orders/contract.py", "batch/store.py", "leave/store.py", "maintenance/history_cleanup.py",
    ]
    assert not [p for p in must_stay if excluded(p, patterns)], "the app would be missing from the package"


def test_funcignore_against_the_repository_files() -> None:
    patterns = ignore_patterns(ROOT / ".funcignore")
    files = repository_files()
    assert "host.json" in files
    shipped = [path for path in files if not excluded(path, patterns)]
    strays = [path for path in shipped if not in_app_package(path)]
    assert not strays, f"not part of the app but deployed: add them to .funcignore: {strays}"
    dropped = [path for path in files if in_app_package(path) and excluded(path, patterns)]
    assert not dropped, f"part of the app but excluded by .funcignore: {dropped}"


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("local.settings.json", True),
        (".azurite/__azurite_db_blob__.json", True),
        ("__azurite_db_table__.json", True),
        ("__blobstorage__/x", True),
        ("node_modules/azurite/package.json", True),
        (".venv/bin/python", True),
        (".python_packages/lib/x.py", True),
        ("common/__pycache__/x.cpython-311.pyc", True),
        (".pytest_cache/v/x", True),
        (".ruff_cache/x", True),
        ("local.settings.json.example", False),
        ("host.json", False),
        ("requirements.txt", False),
        ("package-lock.json", False),
        (".ci/run", False),
    ],
)
def test_gitignore(path: str, ignored: bool) -> None:
    result = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT)
    assert result.returncode in (0, 1), "git check-ignore failed"
    assert (result.returncode == 0) == ignored


# --- CI and make ---------------------------------------------------------------------------


def test_ci_entry_runs_make_test() -> None:
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK), ".ci/run must be executable"
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert "\nmake test\n" in text


def test_make_setup_is_up_to_date_after_setup() -> None:
    """A second `make setup` installs nothing: its stamp files are newer than their inputs."""
    stamps = [".venv/.installed", "devhost/rpc/_generated/FunctionRpc_pb2.py", "node_modules/.installed",
              "local.settings.json"]
    missing = [s for s in stamps if not (ROOT / s).exists()]
    if missing:
        pytest.skip(f"`make setup` has not run in this checkout (missing {missing})")
    result = subprocess.run(["make", "-q", *stamps], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"make would rebuild: {result.stdout}{result.stderr}"
