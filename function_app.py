"""The Function App: one DFApp that assembles each scenario's blueprints.

Nothing else lives here but one logging setting. Each workflow registers its functions in its own
`df.Blueprint` modules under clients/, orchestrators/ and activities/.
"""

import logging

import azure.durable_functions as df
import azure.functions as func

from activities.batch_activities import bp as batch_activities
from activities.leave_activities import bp as leave_activities
from activities.order_activities import bp as order_activities
from clients.batch_client import bp as batch_client
from clients.leave_client import bp as leave_client
from clients.order_client import bp as order_client
from maintenance.history_cleanup import bp as maintenance
from orchestrators.batch_orchestrator import bp as batch_orchestrator
from orchestrators.leave_orchestrator import bp as leave_orchestrator
from orchestrators.order_orchestrator import bp as order_orchestrator

# The Python worker sets the root logger to INFO, so azure-core would log every storage request and
# response (URL, headers) as the function's own log lines (Function.<name>.User): keep its warnings only.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in (
    order_client, order_orchestrator, order_activities,
    leave_client, leave_orchestrator, leave_activities,
    batch_client, batch_orchestrator, batch_activities,
    maintenance,
):
    app.register_functions(blueprint)
