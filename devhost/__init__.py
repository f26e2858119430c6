"""A local host for Python v2 Durable Functions apps, written in Python.

It runs an app the way the Azure Functions host with the Durable Task extension
would, for machines where the real host cannot be installed. It is not the
Azure Functions host; `devhost/README.md` lists every known difference.
"""
