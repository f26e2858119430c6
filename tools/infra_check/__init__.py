"""Offline checks of the Azure deployment (infra/, azure.yaml) against the app.

    python -m tools.infra_check     list the app settings the code reads and whether infra provides them

`code_settings` finds the app settings the app's code reads; `bicep` loads the Bicep templates
with pycep-parser and resolves the app settings the function app gets. tests/test_infra_*.py use
both. Nothing here talks to Azure.
"""
