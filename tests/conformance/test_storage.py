"""DurableTask.AzureStorage's storage layout (Azure/durabletask, src/DurableTask.AzureStorage)."""

from __future__ import annotations

from devhost.transport import fnv1a_32


def test_control_queue_partition_hashes_the_instance_ids_utf8_bytes() -> None:
    """Fnv1aHashHelper.ComputeHash: 32-bit FNV-1a over `(encoding ?? Encoding.UTF8).GetBytes(value)`, and
    AzureStorageOrchestrationService.GetControlQueueAsync takes it modulo the partition count."""
    assert fnv1a_32("a") == 0xE40C292C  # the published FNV-1a 32-bit test vectors
    assert fnv1a_32("foobar") == 0xBF9CF968
    expected = 0x811C9DC5
    for byte in "café-1".encode():
        expected = ((expected ^ byte) * 0x01000193) & 0xFFFFFFFF
    assert fnv1a_32("café-1") == expected
