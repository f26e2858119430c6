"""Settings are applied as the Functions host applies them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from devhost.config import DEFAULT_HUB_NAME, DurableSettings, load_local_settings


def write(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


def test_environment_wins_over_local_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    values = {"A_SETTING": "file", "B_SETTING": "file"}
    write(tmp_path / "local.settings.json", {"IsEncrypted": False, "Values": values})
    monkeypatch.setenv("A_SETTING", "env")
    monkeypatch.delenv("B_SETTING", raising=False)
    applied = load_local_settings(tmp_path)
    assert os.environ["A_SETTING"] == "env"
    assert os.environ["B_SETTING"] == "file"
    assert applied == {"B_SETTING": "file"}
    monkeypatch.delenv("B_SETTING")


def test_hub_name_comes_from_an_app_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "host.json", {"version": "2.0", "extensions": {"durableTask": {
        "hubName": "%MY_HUB%", "maxConcurrentActivityFunctions": 7, "maxConcurrentOrchestratorFunctions": 3,
        "storageProvider": {"controlQueueBatchSize": 16}}}})
    monkeypatch.setenv("MY_HUB", "OrdersHub")
    settings = DurableSettings.from_host_json(tmp_path)
    assert settings.hub_name == "OrdersHub"
    assert (settings.max_concurrent_activities, settings.max_concurrent_orchestrators) == (7, 3)
    assert settings.control_queue_batch_size == 16
    monkeypatch.delenv("MY_HUB")
    assert DurableSettings.from_host_json(tmp_path).hub_name == DEFAULT_HUB_NAME


def test_defaults_without_host_json(tmp_path: Path) -> None:
    settings = DurableSettings.from_host_json(tmp_path)
    assert settings.control_queue_batch_size == 32
    assert settings.hub_name == "TestHubName"


def test_host_json_log_levels_apply_by_category_prefix_with_core_tools_defaults() -> None:
    """host.json logging.logLevel as Core Tools applies it (LoggingFilterHelper, ColoredConsoleLogger):
    a category's level covers its sub-categories; without a `default`, system logs start at Warning."""
    import logging

    from devhost.console import apply_log_levels

    touched = ["Worker", "Function", "Function.Hello"]
    saved = {name: logging.getLogger(name).level for name in touched}
    root_level = logging.getLogger().level
    try:
        apply_log_levels({"logging": {"logLevel": {"Function": "Warning", "Function.Hello": "Debug"}}})
        assert not logging.getLogger("Function.Other.User").isEnabledFor(logging.INFO)
        assert logging.getLogger("Function.Hello.User").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("Worker.LanguageWorkerChannel.python.w1").isEnabledFor(logging.INFO)
        logging.getLogger("Worker").setLevel(logging.NOTSET)
        apply_log_levels({"logging": {"logLevel": {"default": "Information"}}})
        assert logging.getLogger("Worker").level == logging.NOTSET
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
        logging.getLogger().setLevel(root_level)
