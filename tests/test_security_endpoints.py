"""Security review (SECURITY.md): the app's HTTP endpoints and their authorization level.

Pins the table in SECURITY.md, "Endpoints and authorization": every HTTP trigger of the
indexed app needs a function key (none is anonymous), and the routes and methods are exactly
the ones reviewed there. A new or changed endpoint fails here until it is reviewed and listed.
The blueprints' `df.Blueprint()` default (`AuthLevel.FUNCTION`) is what applies: the DFApp's
`http_auth_level` covers only functions declared on the app itself, and there are none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devhost.app_loader import index_functions
from function_app import app

ROOT = Path(__file__).resolve().parents[1]

REVIEWED = {
    # function name: (route, methods)
    "OrderProcessing_Client": ("OrderProcessing_Client", ["GET", "POST"]),
    "BatchProcessing_Client": ("BatchProcessing_Client", ["POST"]),
    "LeaveApproval_Client": ("LeaveApproval_Client", ["POST"]),
    "SubmitApprovalResult": ("SubmitApprovalResult", ["POST"]),
}


def http_triggers() -> dict[str, dict[str, Any]]:
    """The httpTrigger bindings as the host reads them (function.json), by function name.

    Through devhost's index, which caches it on the app: an app indexes its functions once
    (a second `get_functions()` raises), and in-process hosts in the same test run share this app.
    """
    return {function.name: function.trigger for function in index_functions(app).http}


def test_every_http_endpoint_needs_a_function_key() -> None:
    levels = {name: str(spec["authLevel"]).lower() for name, spec in http_triggers().items()}
    assert levels and set(levels.values()) == {"function"}, levels


def test_the_http_endpoints_are_the_reviewed_ones() -> None:
    found = {name: (spec["route"], sorted(str(method).upper() for method in spec["methods"]))
             for name, spec in http_triggers().items()}
    assert found == REVIEWED, "an endpoint changed: review it and update SECURITY.md, then this table"


def test_no_function_lowers_its_auth_level_in_code() -> None:
    sources = [*ROOT.glob("function_app.py"), *(ROOT / "clients").glob("*.py"),
               *(ROOT / "orchestrators").glob("*.py"), *(ROOT / "activities").glob("*.py")]
    offending = [f"{path.relative_to(ROOT)}:{number}" for path in sources
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if "ANONYMOUS" in line.upper() and "AUTH" in line.upper()]
    assert not offending, offending
