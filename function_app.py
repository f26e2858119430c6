"""The Function App: one DFApp that assembles each scenario's blueprints.

Nothing else lives here. Each workflow registers its functions in its own
`df.Blueprint` modules under clients/, orchestrators/ and activities/.
"""

import azure.durable_functions as df
import azure.functions as func

from activities.order_activities import bp as order_activities
from clients.order_client import bp as order_client
from orchestrators.order_orchestrator import bp as order_orchestrator

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in (order_client, order_orchestrator, order_activities):
    app.register_functions(blueprint)
