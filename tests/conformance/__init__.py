"""Conformance: devhost held to the Durable extension and DurableTask sources, one test per behaviour (issue 14)."""
