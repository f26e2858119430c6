"""Orchestrator functions: deterministic workflow code, replayed by the Durable runtime."""
