"""Where orchestration state lives: instance rows and their history.

The record mirrors a row of the Azure Storage provider's `{hub}Instances` table
(see durable-host-protocol.md section 5) so that a table-backed store can keep
exactly these columns.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .history import Event

TERMINAL_STATES = frozenset({"Completed", "Failed", "Terminated", "Canceled"})
RUNNING_STATES = frozenset({"Pending", "Running", "Suspended", "ContinuedAsNew"})


@dataclass
class InstanceRecord:
    """One orchestration instance: status columns plus the current execution's history."""

    instance_id: str
    name: str
    execution_id: str
    runtime_status: str
    created_time: datetime
    last_updated_time: datetime
    input: str | None = None
    output: str | None = None
    custom_status: str | None = None
    completed_time: datetime | None = None
    parent: dict[str, Any] | None = None
    generation: int = 0  # how often the instance id was started anew (DurableTask.AzureStorage's Generation)
    etag: str | None = field(default=None, compare=False)  # the Instances row's version as the store read it
    history: list[Event] = field(default_factory=list)

    @property
    def is_terminal(self) -> bool:
        return self.runtime_status in TERMINAL_STATES

    def copy(self) -> InstanceRecord:
        """A copy whose history list can be appended to independently (events are never mutated)."""
        return dataclasses.replace(self, history=list(self.history))


@dataclass
class InstanceQuery:
    """Filters of the HTTP API's instance queries and purges."""

    runtime_status: frozenset[str] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    instance_id_prefix: str | None = None

    def matches(self, record: InstanceRecord) -> bool:
        if self.runtime_status and record.runtime_status not in self.runtime_status:
            return False
        if self.created_from and record.created_time < self.created_from:
            return False
        if self.created_to and record.created_time > self.created_to:
            return False
        return not (self.instance_id_prefix and not record.instance_id.startswith(self.instance_id_prefix))


class InstanceStore(Protocol):
    """Where the engine keeps instances; see MemoryStore and table_store.TableInstanceStore."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def get(self, instance_id: str, history: bool = True) -> InstanceRecord | None:
        """The instance, with its current execution's history unless `history` is False."""

    async def create(self, record: InstanceRecord) -> None:
        """Start a new execution of a sub-orchestration, replacing the previous one."""

    async def start_execution(self, record: InstanceRecord, etag: str | None) -> bool:
        """A client start's Pending row (AzureTableTrackingStore.SetNewExecutionAsync): inserted when `etag` is
        None, else replacing the row only while it still has that ETag. False, and nothing written, when a
        concurrent start got there first."""

    async def save(self, record: InstanceRecord, first_new_event: int) -> None:
        """Append `record.history[first_new_event:]` and update the instance's columns."""

    async def continue_as_new(self, record: InstanceRecord) -> None:
        """The next generation of an instance (ContinueAsNew): its execution becomes the current one, its
        history is written from the first row and the instance's columns are updated, not replaced."""

    async def delete(self, instance_id: str) -> bool:
        """Remove the instance and all its history; False when there was none."""

    async def query(self, query: InstanceQuery) -> list[InstanceRecord]:
        """Instances matching the filter (without history), oldest first."""


class MemoryStore:
    """Instance state in process memory (lost when the host stops)."""

    def __init__(self) -> None:
        self._records: dict[str, InstanceRecord] = {}
        self._versions = itertools.count(1)
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def get(self, instance_id: str, history: bool = True) -> InstanceRecord | None:
        record = self._records.get(instance_id)
        return record.copy() if record else None

    def _put(self, record: InstanceRecord) -> None:
        stored = record.copy()
        stored.etag = str(next(self._versions))
        self._records[record.instance_id] = stored

    async def create(self, record: InstanceRecord) -> None:
        async with self._lock:
            self._put(record)

    async def start_execution(self, record: InstanceRecord, etag: str | None) -> bool:
        async with self._lock:
            current = self._records.get(record.instance_id)
            if (current.etag if current else None) != etag:
                return False
            self._put(record)
            return True

    async def save(self, record: InstanceRecord, first_new_event: int = 0) -> None:
        async with self._lock:
            self._put(record)

    async def continue_as_new(self, record: InstanceRecord) -> None:
        await self.save(record)

    async def delete(self, instance_id: str) -> bool:
        async with self._lock:
            return self._records.pop(instance_id, None) is not None

    async def query(self, query: InstanceQuery) -> list[InstanceRecord]:
        found = [r for r in self._records.values() if query.matches(r)]
        found.sort(key=lambda r: (r.created_time, r.instance_id))
        return [r.copy() for r in found]
