"""The security-relevant structure of infra/*.bicep, azure.yaml and the parameters file, read with
pycep-parser 0.7.1 (no Bicep compiler or Azure access is needed).

What is pinned here: storage without keys or public blobs, least-privilege roles for the app's
user-assigned identity, identity-based connections with no connection string or key anywhere,
Application Insights without local auth, the Flex Consumption runtime and always-ready Durable
instance, the optional private network, the outputs azd and docs/deploy.md rely on, and that every
app setting the code reads is provided.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tools.infra_check import bicep, code_settings

ROOT = bicep.ROOT
INFRA = bicep.INFRA

# Every app setting the app's code reads (common/, activities/, clients/, orchestrators/), less the
# platform's own (AzureWebJobsStorage*, FUNCTIONS_*, WEBSITE_*). It must match what
#   grep -rn "os.environ\|get_str\|get_int\|get_decimal\|_SETTING\b" common activities clients orchestrators
# finds, including the ("NAME", default) pairs handed to get_str(*pair); test_code_reads_exactly_
# these_settings re-derives it from the sources, so a new setting fails here until it is added
# both to this list and to infra/app-settings.json.
APP_SETTINGS_READ_BY_CODE = frozenset({
    "APP_STORAGE_CONNECTION",
    "BATCH_CHUNK_SIZE",
    "BATCH_INPUT_CONTAINER",
    "BATCH_MAX_FILES",
    "BATCH_MAX_FILE_BYTES",
    "BATCH_MAX_PARALLEL_CHUNKS",
    "BATCH_OUTPUT_CONTAINER",
    "BATCH_QUARANTINE_CONTAINER",
    "BATCH_REPORTS_CONTAINER",
    "BATCH_RETRY_FIRST_INTERVAL_MS",
    "BATCH_RETRY_MAX_ATTEMPTS",
    "EMAIL_FROM",
    "HISTORY_CLEANUP_SCHEDULE",
    "HISTORY_RETENTION_DAYS",
    "INVENTORY_TABLE",
    "LEAVE_APPROVAL_BASE_URL",
    "LEAVE_APPROVAL_TIMEOUT",
    "LEAVE_APPROVER_IDENTITY",
    "LEAVE_EMAIL_FROM",
    "LEAVE_MAX_DAYS",
    "LEAVE_REMINDER_ENABLED",
    "LEAVE_REQUESTS_TABLE",
    "LEAVE_RETRY_FIRST_INTERVAL_MS",
    "LEAVE_RETRY_MAX_ATTEMPTS",
    "ORDERS_TABLE",
    "ORDER_RETRY_FIRST_INTERVAL_MS",
    "ORDER_RETRY_MAX_ATTEMPTS",
    "OUTBOX_CONTAINER",
    "PAYMENTS_TABLE",
    "PAYMENT_LIMIT",
    "PRODUCTS_TABLE",
    "WORKFLOW_STARTS_TABLE",
})

# Settings the deployment provides although no Python code reads them.
PROVIDED_FOR_THE_HOST = {
    "TASKHUB_NAME": "host.json: extensions.durableTask.hubName is %TASKHUB_NAME%",
    "PYTHON_THREADPOOL_THREAD_COUNT": "read by the Python worker: threads for synchronous functions",
}

ROLE_IDS = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}
STORAGE_ROLES = {"Storage Blob Data Owner", "Storage Queue Data Contributor", "Storage Table Data Contributor"}

# App settings that must never be set on a Flex Consumption app (they are replaced by
# functionAppConfig, or are keys): "Flex Consumption plan deprecations" in the Functions app
# settings reference, plus the key-based storage and telemetry settings this deployment avoids.
FORBIDDEN_SETTINGS = {
    "AzureWebJobsStorage", "APPINSIGHTS_INSTRUMENTATIONKEY", "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_WORKER_RUNTIME_VERSION", "FUNCTIONS_EXTENSION_VERSION", "FUNCTIONS_WORKER_PROCESS_COUNT",
    "WEBSITE_RUN_FROM_PACKAGE", "WEBSITE_CONTENTSHARE", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "SCM_DO_BUILD_DURING_DEPLOYMENT", "ENABLE_ORYX_BUILD", "WEBSITE_NODE_DEFAULT_VERSION",
}


def _load(path: Path) -> dict[str, Any]:
    try:
        return bicep.load(path)
    except ImportError as error:  # a failure, not a skip: CI must not pass without checking infra/
        pytest.fail(f"{error.name} is missing: `make setup` installs pycep-parser from requirements-dev.txt")


@pytest.fixture(scope="module")
def main() -> dict[str, Any]:
    return _load(bicep.MAIN)


@pytest.fixture(scope="module")
def network() -> dict[str, Any]:
    return _load(INFRA / "network.bicep")


@pytest.fixture(scope="module")
def site(main: dict[str, Any]) -> bicep.Resource:
    return bicep.one(main, "Microsoft.Web/sites")


@pytest.fixture(scope="module")
def settings(main: dict[str, Any], site: bicep.Resource) -> dict[str, str]:
    return bicep.app_settings(main, site)


def app_settings_json() -> dict[str, Any]:
    return json.loads((INFRA / "app-settings.json").read_text(encoding="utf-8"))


# --- template and parameters -----------------------------------------------------------------


def test_every_bicep_file_loads_with_pycep() -> None:
    for path in bicep.bicep_files():
        assert _load(path).get("resources"), f"{path.name}: no resources"


def test_main_deploys_to_a_resource_group(main: dict[str, Any]) -> None:
    assert main["globals"]["scope"]["value"] == "resourceGroup"
    for name in ("environmentName", "location", "principalId", "vnetEnabled"):
        bicep.parameter(main, name)
    assert bicep.parameter(main, "vnetEnabled")["type"] == "bool"
    assert bicep.parameter(main, "vnetEnabled").get("default") is False
    assert bicep.parameter(main, "principalId").get("default") == ""


def test_parameters_file_uses_azd_substitutions(main: dict[str, Any]) -> None:
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert parameters["location"]["value"] == "${AZURE_LOCATION}"
    assert parameters["principalId"]["value"] == "${AZURE_PRINCIPAL_ID}"
    assert re.fullmatch(r"\$\{VNET_ENABLED(=false)?\}", parameters["vnetEnabled"]["value"])
    declared = main["parameters"]
    assert not set(parameters) - set(declared), "the parameters file names parameters main.bicep lacks"
    required = {name for name, p in declared.items() if "default" not in p}
    assert required <= set(parameters), f"required parameters missing from the file: {required - set(parameters)}"


def _simple_yaml(text: str) -> dict[str, Any]:
    """Nested mappings of scalars: the subset azure.yaml uses (no YAML library in requirements-dev.txt)."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(-1, root)]
    for raw in text.splitlines():
        line = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        name, _, value = line.strip().partition(":")
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        if value.strip():
            parent[name] = value.strip().strip("'\"")
        else:
            parent[name] = {}
            stack.append((indent, parent[name]))
    return root


def test_azure_yaml_deploys_this_folder_as_the_api_function_app() -> None:
    project = _simple_yaml((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    assert project["services"]["api"] == {"project": ".", "language": "python", "host": "function"}
    assert project["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}


# --- storage ----------------------------------------------------------------------------------


def test_storage_account_has_no_keys_and_no_public_blobs(main: dict[str, Any]) -> None:
    storage = bicep.one(main, "Microsoft.Storage/storageAccounts")
    assert storage.body["kind"] == "StorageV2"
    properties = storage.body["properties"]
    expected = {
        "allowSharedKeyAccess": False,
        "allowBlobPublicAccess": False,
        "defaultToOAuthAuthentication": True,
        "minimumTlsVersion": "TLS1_2",
        "supportsHttpsTrafficOnly": True,
    }
    assert {name: properties.get(name) for name in expected} == expected
    assert bicep.text(properties["publicNetworkAccess"]) == "vnetEnabled ? Disabled : Enabled"
    assert bicep.text(properties["networkAcls"]["defaultAction"]) == "vnetEnabled ? Deny : Allow"


def test_blob_soft_delete(main: dict[str, Any]) -> None:
    blob_service = bicep.one(main, "Microsoft.Storage/storageAccounts/blobServices")
    for policy in ("deleteRetentionPolicy", "containerDeleteRetentionPolicy"):
        assert blob_service.get(f"properties.{policy}.enabled") is True
        assert blob_service.get(f"properties.{policy}.days")


def test_containers_and_tables_are_the_ones_the_app_uses(main: dict[str, Any], site: bicep.Resource) -> None:
    containers = bicep.resources(main, "Microsoft.Storage/storageAccounts/blobServices/containers")
    names: set[str] = set()
    for container in containers:
        assert container.get("properties.publicAccess") == "None"
        if container.loop:
            assert container.loop["detail"]["item_name"] == container.body["name"]
            names.update(bicep.resolve_list(main, container.loop["detail"]["array_name"]))
        else:
            names.add(bicep.resolve_value(main, container.body["name"]))
    settings = app_settings_json()
    app_containers = {value for name, value in settings.items() if name.endswith("_CONTAINER")}
    assert app_containers == {"outbox", "batch-input", "batch-output", "batch-quarantine", "batch-reports"}
    deployment_container = bicep.resolve_value(main, "deploymentContainerName")
    assert names == app_containers | {deployment_container}
    assert bicep.text(site.get("properties.functionAppConfig.deployment.storage.value")) == \
        "${storage.properties.primaryEndpoints.blob}${deploymentContainerName}"

    [tables] = bicep.resources(main, "Microsoft.Storage/storageAccounts/tableServices/tables")
    assert tables.loop and tables.loop["detail"]["item_name"] == tables.body["name"]
    table_names = set(bicep.resolve_list(main, tables.loop["detail"]["array_name"]))
    assert {"Products", "Orders", "Payments", "LeaveRequests"} <= table_names
    assert table_names == {value for name, value in settings.items() if name.endswith("_TABLE")}


# --- identity and roles -----------------------------------------------------------------------


def _role_name(main: dict[str, Any], assignment: bicep.Resource) -> str:
    definition = assignment.get("properties.roleDefinitionId")
    function = definition["function"]
    assert function["type"] == "subscription_resource_id", bicep.text(definition)
    assert function["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
    role_id = bicep.resolve_value(main, function["parameters"]["resource_name_1"])
    names = [name for name, known in ROLE_IDS.items() if known == role_id]
    assert names, f"{assignment.symbol}: role {role_id} is not one of the least-privilege roles {ROLE_IDS}"
    # The assignment's name is a guid of scope, principal and role, so redeploying is idempotent.
    assert bicep.text(function["parameters"]["resource_name_1"]) in bicep.text(assignment.body["name"])
    return names[0]


def test_app_identity_gets_exactly_the_least_privilege_roles(main: dict[str, Any]) -> None:
    bicep.one(main, "Microsoft.ManagedIdentity/userAssignedIdentities")
    assignments = bicep.resources(main, "Microsoft.Authorization/roleAssignments")
    for_app = [a for a in assignments
               if bicep.text(a.get("properties.principalId")) == "identity.properties.principalId"]
    granted = {(_role_name(main, a), a.body["scope"]) for a in for_app}
    assert granted == {
        ("Storage Blob Data Owner", "storage"),
        ("Storage Queue Data Contributor", "storage"),
        ("Storage Table Data Contributor", "storage"),
        ("Monitoring Metrics Publisher", "appInsights"),
    }
    for assignment in for_app:
        assert assignment.condition is None, f"{assignment.symbol} must always be deployed"
        assert assignment.get("properties.principalType") == "ServicePrincipal"
        assert "identity.id" in bicep.text(assignment.body["name"])


def test_deploying_user_gets_the_storage_roles_only_when_principal_id_is_set(main: dict[str, Any]) -> None:
    assignments = bicep.resources(main, "Microsoft.Authorization/roleAssignments")
    for_user = [a for a in assignments if bicep.text(a.get("properties.principalId")) == "principalId"]
    assert {(_role_name(main, a), a.body["scope"]) for a in for_user} == {(role, "storage") for role in STORAGE_ROLES}
    for assignment in for_user:
        assert bicep.text(assignment.condition) == "!empty(principalId)"
    assert len(for_user) + 4 == len(assignments), "a role assignment for some other principal"


def test_function_app_runs_as_the_user_assigned_identity(site: bicep.Resource) -> None:
    assert site.body["kind"] == "functionapp,linux"
    assert site.get("identity.type") == "UserAssigned"
    assert list(site.get("identity.userAssignedIdentities")) == ["${identity.id}"]
    authentication = site.get("properties.functionAppConfig.deployment.storage.authentication")
    assert authentication["type"] == "UserAssignedIdentity"
    assert bicep.text(authentication["userAssignedIdentityResourceId"]) == "identity.id"


# --- function app -----------------------------------------------------------------------------


def test_flex_consumption_plan(main: dict[str, Any], site: bicep.Resource) -> None:
    plan = bicep.one(main, "Microsoft.Web/serverfarms")
    assert plan.get("sku.name") == "FC1"
    assert plan.get("sku.tier") == "FlexConsumption"
    assert plan.get("properties.reserved") is True
    assert bicep.text(site.get("properties.serverFarmId")) == f"{plan.symbol}.id"


def test_function_app_is_hardened(main: dict[str, Any], site: bicep.Resource) -> None:
    assert site.get("properties.httpsOnly") is True
    site_config = site.get("properties.siteConfig")
    assert site_config["minTlsVersion"] == "1.2"
    assert site_config["ftpsState"] == "Disabled"
    assert site_config["http20Enabled"] is True
    tags = bicep.resolve_object(main, site.body["tags"])
    assert tags["azd-service-name"] == "api"
    assert bicep.text(tags["azd-env-name"]) == "environmentName"


def test_no_basic_auth_publishing_credentials(site: bicep.Resource, main: dict[str, Any]) -> None:
    """Deployments use Entra ID: the SCM and FTP publishing user names and passwords are switched off."""
    policies = bicep.resources(main, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert sorted(bicep.text(p.body["name"]) for p in policies) == ["ftp", "scm"]
    for policy in policies:
        assert bicep.text(policy.body["parent"]) == site.symbol
        assert policy.get("properties.allow") is False
        assert policy.condition is None


def test_python_311_with_one_always_ready_durable_instance(main: dict[str, Any], site: bicep.Resource) -> None:
    config = site.get("properties.functionAppConfig")
    assert config["runtime"] == {"name": "python", "version": "3.13"}
    scale = config["scaleAndConcurrency"]
    assert scale["alwaysReady"] == [{"name": "durable", "instanceCount": 1}]
    assert bicep.parameter(main, "instanceMemoryMB")["default"] == 2048
    assert scale["instanceMemoryMB"] == "instanceMemoryMB"
    assert scale["maximumInstanceCount"] == "maximumInstanceCount"
    assert bicep.parameter(main, "maximumInstanceCount")["default"] >= 1


def test_identity_based_connections(settings: dict[str, str]) -> None:
    assert settings["AzureWebJobsStorage__accountName"] == "storage.name"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identity.properties.clientId"
    for service in ("blob", "queue", "table"):
        assert settings[f"AzureWebJobsStorage__{service}ServiceUri"] == f"storage.properties.primaryEndpoints.{service}"
    assert settings["APPLICATIONINSIGHTS_CONNECTION_STRING"] == "appInsights.properties.ConnectionString"
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == \
        "ClientId=${identity.properties.clientId};Authorization=AAD"


def test_no_key_based_or_deprecated_settings(settings: dict[str, str]) -> None:
    assert not FORBIDDEN_SETTINGS & set(settings)
    for name, value in settings.items():
        assert "AccountKey" not in value and "SharedAccessSignature" not in value, name
        assert not value.startswith("DefaultEndpointsProtocol"), f"{name} is a connection string"


def test_no_keys_anywhere_in_infra() -> None:
    forbidden = re.compile(r"listKeys\(|listAccountSas\(|listServiceSas\(|AccountKey=|SharedAccessSignature=|"
                           r"InstrumentationKey|primaryKey|secondaryKey|connectionStrings", re.IGNORECASE)
    files = [*bicep.bicep_files(), INFRA / "app-settings.json", INFRA / "main.parameters.json"]
    found = [f"{path.name}:{number}: {line.strip()}" for path in files
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if forbidden.search(line)]
    assert not found, "keys or connection strings in infra/:\n" + "\n".join(found)


def test_application_insights_without_local_auth(main: dict[str, Any]) -> None:
    insights = bicep.one(main, "Microsoft.Insights/components")
    assert insights.get("properties.DisableLocalAuth") is True
    workspace = bicep.one(main, "Microsoft.OperationalInsights/workspaces")
    assert bicep.text(insights.get("properties.WorkspaceResourceId")) == f"{workspace.symbol}.id"


def test_log_analytics_workspace_without_local_auth(main: dict[str, Any]) -> None:
    """No workspace keys either: Entra ID is the only way in, as for Application Insights (SECURITY.md)."""
    workspace = bicep.one(main, "Microsoft.OperationalInsights/workspaces")
    assert workspace.get("properties.features.disableLocalAuth") is True


# --- app settings against the code ------------------------------------------------------------


def test_code_reads_exactly_these_settings() -> None:
    found = code_settings.app_settings_read_by_code()
    assert found == APP_SETTINGS_READ_BY_CODE, (
        f"the code now reads {sorted(found - APP_SETTINGS_READ_BY_CODE)} and no longer reads "
        f"{sorted(APP_SETTINGS_READ_BY_CODE - found)}: update APP_SETTINGS_READ_BY_CODE and infra/app-settings.json"
    )


def test_every_setting_the_code_reads_is_provided(settings: dict[str, str]) -> None:
    missing = sorted(code_settings.app_settings_read_by_code() - set(settings))
    assert not missing, f"read by the code but not set by infra (add them to infra/app-settings.json): {missing}"
    assert set(settings) >= APP_SETTINGS_READ_BY_CODE


def test_every_provided_app_setting_is_used() -> None:
    unused = set(app_settings_json()) - APP_SETTINGS_READ_BY_CODE - set(PROVIDED_FOR_THE_HOST)
    assert not unused, f"infra/app-settings.json sets settings nothing reads: {sorted(unused)}"


def test_host_json_setting_references_are_provided(settings: dict[str, str]) -> None:
    references = set(re.findall(r"%([A-Za-z0-9_]+)%", (ROOT / "host.json").read_text(encoding="utf-8")))
    assert "TASKHUB_NAME" in references
    assert not references - set(settings), f"host.json uses settings infra does not set: {references - set(settings)}"


def test_app_settings_json_is_the_apps_own_settings_only() -> None:
    values = app_settings_json()
    assert all(isinstance(value, str) for value in values.values()), "app settings are strings"
    platform = [name for name in values
                if code_settings.is_platform_setting(name) or name.startswith(("APPLICATIONINSIGHTS_", "AzureWebJobs"))]
    assert not platform, f"main.bicep sets these from the resources; keep them out of app-settings.json: {platform}"
    assert not FORBIDDEN_SETTINGS & set(values)


def test_app_settings_json_matches_the_code_defaults() -> None:
    """Azure runs with the same values as a local run without settings, unless changed on purpose."""
    values = app_settings_json()
    differing = {name: (values[name], sorted(defaults)) for name, defaults in code_settings.code_defaults().items()
                 if name in values and values[name] not in defaults}
    assert not differing, f"infra/app-settings.json differs from the code's defaults: {differing}"


# --- network ----------------------------------------------------------------------------------


def test_vnet_integration_is_one_switch(main: dict[str, Any], site: bicep.Resource) -> None:
    module = main["modules"]["network"]
    assert module["detail"]["path"] == "network.bicep"
    assert module["config"]["condition"] == "vnetEnabled"
    assert bicep.text(site.get("properties.virtualNetworkSubnetId")).startswith("vnetEnabled ? ")
    assert "network" in site.body["dependsOn"]


def test_private_endpoints_for_blob_queue_and_table(network: dict[str, Any]) -> None:
    services = bicep.resolve_list(network, "storageServices")
    assert services == ["blob", "queue", "table"]
    for type_ in ("Microsoft.Network/privateEndpoints", "Microsoft.Network/privateDnsZones",
                  "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
                  "Microsoft.Network/privateEndpoints/privateDnsZoneGroups"):
        [resource] = bicep.resources(network, type_)
        assert resource.loop and bicep.text(resource.loop["detail"]["array_name"]) == "storageServices", type_
    [endpoints] = bicep.resources(network, "Microsoft.Network/privateEndpoints")
    [connection] = endpoints.get("properties.privateLinkServiceConnections")
    assert connection["properties"]["privateLinkServiceId"] == "storageAccountId"
    assert connection["properties"]["groupIds"] == ["service"]
    [zones] = bicep.resources(network, "Microsoft.Network/privateDnsZones")
    assert zones.body["name"] == "privatelink.${service}.${environment().suffixes.storage}"


def test_app_subnet_is_delegated_for_flex_consumption(network: dict[str, Any]) -> None:
    vnet = bicep.one(network, "Microsoft.Network/virtualNetworks")
    subnets = {subnet["name"]: subnet["properties"] for subnet in vnet.get("properties.subnets")}
    app = subnets["appSubnetName"]
    assert [d["properties"]["serviceName"] for d in app["delegations"]] == ["Microsoft.App/environments"]
    assert subnets["privateEndpointSubnetName"]["privateEndpointNetworkPolicies"] == "Disabled"


# --- outputs ----------------------------------------------------------------------------------


def test_outputs_are_the_real_values(main: dict[str, Any]) -> None:
    outputs = {name: bicep.text(output["value"]) for name, output in main["outputs"].items()}
    assert outputs["FUNCTION_APP_URL"] == "https://${functionApp.properties.defaultHostName}"
    assert outputs["SERVICE_API_URI"] == outputs["FUNCTION_APP_URL"]
    # The real connection string, not the component's name (the quickstart template's bug).
    assert outputs["APPLICATIONINSIGHTS_CONNECTION_STRING"] == "appInsights.properties.ConnectionString"
    assert outputs["AZURE_STORAGE_ACCOUNT_NAME"] == "storage.name"
    assert outputs["AZURE_FUNCTION_NAME"] == outputs["SERVICE_API_NAME"] == "functionApp.name"
    assert outputs["AZURE_RESOURCE_GROUP"] == "resource_group().name"
    assert outputs["AZURE_LOCATION"] == "location"
    assert outputs["AZURE_TENANT_ID"] == "tenant().tenantId"


def test_code_defaults_follow_constants_imported_from_other_app_modules(tmp_path: Path) -> None:
    """A default defined once (common.retry) and named in a scenario's settings pair is still read."""
    (tmp_path / "common").mkdir()
    (tmp_path / "orders").mkdir()
    (tmp_path / "common" / "retry.py").write_text("DEFAULT_MAX_ATTEMPTS = 3\n")
    (tmp_path / "orders" / "settings.py").write_text(
        "from common.retry import DEFAULT_MAX_ATTEMPTS\n"
        "RETRY_MAX_ATTEMPTS = ('ORDER_RETRY_MAX_ATTEMPTS', DEFAULT_MAX_ATTEMPTS)\n")
    assert code_settings.code_defaults(tmp_path) == {"ORDER_RETRY_MAX_ATTEMPTS": {"3"}}
