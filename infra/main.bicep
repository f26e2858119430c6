// Azure resources for the Durable Functions app: one resource group holding
//   - a Flex Consumption plan (FC1) and the Python 3.13 function app, with one always-ready
//     instance for the Durable triggers (orchestrators, activities, entities);
//   - one storage account (task hub, deployment package, the app's tables and containers),
//     reached only with Entra ID: shared keys are off and there is no storage key or connection string;
//   - a user-assigned managed identity, with least-privilege data roles on that account and
//     Monitoring Metrics Publisher on Application Insights;
//   - Log Analytics + Application Insights (local auth off on both: telemetry is sent with the identity);
//   - optionally (vnetEnabled) a virtual network: the app joins a subnet and storage is reachable
//     only through private endpoints (network.bicep).
//
// Deploy with `azd up` (azure.yaml, main.parameters.json) or `az deployment group create`
// (see docs/deploy.md). The app's own settings live in ONE place, app-settings.json; this file
// adds only the identity, storage and monitoring settings that depend on the resources.
//
// Written in the Bicep subset that tree-sitter-bicep, pycep-parser and checkov all parse
// (tests/test_infra_*.py): no typed variables, no spread, no `for ... if` filters.

targetScope = 'resourceGroup'

// ---------------------------------------------------------------- parameters

@minLength(1)
@maxLength(64)
@description('Name of the azd environment: tags every resource and seeds the unique suffix of the resource names.')
param environmentName string

@minLength(1)
@description('Region of every resource. It must offer Flex Consumption: az functionapp list-flexconsumption-locations -o table')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string = resourceGroup().location

@description('Object id of the person (or service principal) deploying. When set, it gets the same storage data roles as the app, so Storage Explorer (Entra ID sign-in) and `python -m tools.seed` work. Leave empty in production.')
param principalId string = ''

@description('Put the function app in a virtual network and make storage reachable only through private endpoints (blob, queue, table). Storage Explorer and tools.seed then work only from inside the network.')
param vnetEnabled bool = false

@description('Name of the function app; empty: func-<unique suffix>. The URL is in the FUNCTION_APP_URL output.')
param functionAppName string = ''

@description('Name of the storage account (3-24 lowercase letters and digits, globally unique); empty: st<unique suffix>.')
param storageAccountName string = ''

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances the app may scale out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Days that deleted blobs and containers are kept (blob soft delete).')
@minValue(1)
@maxValue(365)
param blobSoftDeleteDays int = 7

@description('Values that replace the defaults of infra/app-settings.json, e.g. {"PAYMENT_LIMIT": "500.00"}. Names not in that file are added as new settings.')
param appSettingOverrides object = {}

// ---------------------------------------------------------------- names and settings

var resourceToken = toLower(uniqueString(resourceGroup().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var appName = empty(functionAppName) ? 'func-${resourceToken}' : functionAppName
var storageName = empty(storageAccountName) ? 'st${resourceToken}' : storageAccountName
var planName = 'plan-${resourceToken}'
var identityName = 'id-${resourceToken}'
var logAnalyticsName = 'log-${resourceToken}'
var appInsightsName = 'appi-${resourceToken}'
var vnetName = 'vnet-${resourceToken}'
var appSubnetName = 'app'
var privateEndpointSubnetName = 'private-endpoints'

// The app's own settings (names and values), under the names the app reads locally too. Table and
// container names come from it, so the resources below and the app agree.
var appSettings = union(loadJsonContent('app-settings.json'), appSettingOverrides)

// Flex Consumption deploys the app package to this container (functionAppConfig.deployment).
var deploymentContainerName = 'app-package-${resourceToken}'
var appContainerNames = [
  appSettings.OUTBOX_CONTAINER
  appSettings.BATCH_INPUT_CONTAINER
  appSettings.BATCH_OUTPUT_CONTAINER
  appSettings.BATCH_QUARANTINE_CONTAINER
  appSettings.BATCH_REPORTS_CONTAINER
]
var appTableNames = [
  appSettings.PRODUCTS_TABLE
  appSettings.INVENTORY_TABLE
  appSettings.ORDERS_TABLE
  appSettings.PAYMENTS_TABLE
  appSettings.LEAVE_REQUESTS_TABLE
  appSettings.WORKFLOW_STARTS_TABLE
]

// Built-in role definition ids (the same in every tenant).
var roleIds = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// ---------------------------------------------------------------- identity

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
  tags: tags
}

// ---------------------------------------------------------------- monitoring

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    retentionInDays: 30
    sku: {
      name: 'PerGB2018'
    }
    features: {
      // No workspace (shared) keys: data arrives through Application Insights with Entra ID only.
      disableLocalAuth: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    // No instrumentation-key ingestion: the app authenticates with its identity
    // (APPLICATIONINSIGHTS_AUTHENTICATION_STRING) and needs Monitoring Metrics Publisher.
    DisableLocalAuth: true
  }
}

// ---------------------------------------------------------------- storage

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_35: defaultAction is Deny when vnetEnabled (then public network access is Disabled too). Without a virtual network the Flex Consumption app has no fixed outbound addresses to allow, so the account accepts public traffic, with Entra ID only (shared keys off).
  //checkov:skip=CKV_AZURE_206: Standard_LRS on purpose for a reference app (cost; the task hub and sample data can be recreated). Choose Standard_ZRS or GZRS for production where the region offers it.
  //checkov:skip=CKV_AZURE_43: False positive: checkov cannot evaluate the name expression; the default 'st' + uniqueString() is 15 lowercase letters and digits, and an explicit storageAccountName is checked by Azure.
  name: storageName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    dnsEndpointType: 'Standard'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: vnetEnabled ? 'Deny' : 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: blobSoftDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: blobSoftDeleteDays
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource appContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for containerName in appContainerNames: {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource appTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for tableName in appTableNames: {
  parent: tableService
  name: tableName
}]

// ---------------------------------------------------------------- role assignments (least privilege)

// The app's identity. Blob Data Owner (not Contributor): the Functions host and the Durable
// extension manage blob leases and the deployment package; Queue and Table Data Contributor:
// the task hub's queues and history/instance tables, and the app's own tables.
resource appBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roleIds.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appQueueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roleIds.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageQueueDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appTableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roleIds.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageTableDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identity.id, roleIds.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The deploying user (optional): the same storage data roles, for Storage Explorer with Entra ID
// and tools.seed. principalType is left out so a service principal (CI) works as well as a user.
resource userBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(storage.id, principalId, roleIds.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataOwner)
    principalId: principalId
  }
}

resource userQueueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(storage.id, principalId, roleIds.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageQueueDataContributor)
    principalId: principalId
  }
}

resource userTableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(storage.id, principalId, roleIds.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageTableDataContributor)
    principalId: principalId
  }
}

// ---------------------------------------------------------------- network (optional)

module network 'network.bicep' = if (vnetEnabled) {
  name: 'network'
  params: {
    location: location
    tags: tags
    vnetName: vnetName
    appSubnetName: appSubnetName
    privateEndpointSubnetName: privateEndpointSubnetName
    storageAccountId: storage.id
    storageAccountName: storage.name
  }
}

// ---------------------------------------------------------------- function app

// The app's own settings as the name/value list siteConfig.appSettings takes. The settings that
// depend on the resources are added to it in the function app below.
var appSettingsList = [for setting in items(appSettings): {
  name: setting.key
  value: setting.value
}]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  //checkov:skip=CKV_AZURE_225: Zone redundancy is off on purpose for a reference app (cost, and only some regions offer it for Flex Consumption). For production set properties.zoneRedundant and use zone-redundant storage.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  //checkov:skip=CKV_AZURE_222: The HTTP starters must be callable from the internet (function keys, HTTPS only); vnetEnabled makes storage private, not the API.
  //checkov:skip=CKV_AZURE_17: Incoming client certificates would break the documented callers (curl, the Durable status URLs); the starters require function keys over HTTPS.
  //checkov:skip=CKV_AZURE_212: Flex Consumption scales by events (maximumInstanceCount) and keeps one always-ready instance for the Durable triggers; there is no fixed instance count to set.
  //checkov:skip=CKV_AZURE_213: The app has no health endpoint to probe; add siteConfig.healthCheckPath if one is added.
  name: appName
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    virtualNetworkSubnetId: vnetEnabled ? resourceId('Microsoft.Network/virtualNetworks/subnets', vnetName, appSubnetName) : null
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // Identity-based connections only: AzureWebJobsStorage__* names the account, its endpoints
      // and the identity; there is no AzureWebJobsStorage connection string and no key anywhere.
      // The app's own storage clients read the same settings (common/storage.py).
      appSettings: concat(appSettingsList, [
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storage.name
        }
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: storage.properties.primaryEndpoints.blob
        }
        {
          name: 'AzureWebJobsStorage__queueServiceUri'
          value: storage.properties.primaryEndpoints.queue
        }
        {
          name: 'AzureWebJobsStorage__tableServiceUri'
          value: storage.properties.primaryEndpoints.table
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identity.properties.clientId
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsights.properties.ConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identity.properties.clientId};Authorization=AAD'
        }
      ])
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        // One warm instance for the Durable triggers, so orchestrations and activities
        // do not wait for a cold start; HTTP still scales from zero on demand.
        alwaysReady: [
          {
            name: 'durable'
            instanceCount: 1
          }
        ]
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.13'
      }
    }
  }
  // The host starts as soon as the app exists: let it find its storage roles, containers and
  // (with vnetEnabled) the private endpoints already in place.
  dependsOn: [
    deploymentContainer
    appContainers
    appTables
    appBlobDataOwner
    appQueueDataContributor
    appTableDataContributor
    appMetricsPublisher
    network
  ]
}

// No publishing user names and passwords (basic auth) for the SCM (Kudu) and FTP endpoints:
// azd, Core Tools and the Azure CLI deploy to Flex Consumption with Entra ID tokens. A pipeline
// that deploys with a downloaded publish profile would need these set back to true.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

// ---------------------------------------------------------------- outputs

// azd conventions: azd stores these in .azure/<env>/.env; `azd deploy` finds the app by them
// (and by the azd-service-name tag).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output AZURE_FUNCTION_NAME string = functionApp.name
output SERVICE_API_NAME string = functionApp.name
output SERVICE_API_URI string = 'https://${functionApp.properties.defaultHostName}'
// What docs/deploy.md uses.
output FUNCTION_APP_URL string = 'https://${functionApp.properties.defaultHostName}'
output AZURE_STORAGE_ACCOUNT_NAME string = storage.name
output APPLICATIONINSIGHTS_CONNECTION_STRING string = appInsights.properties.ConnectionString
output AZURE_USER_ASSIGNED_IDENTITY_CLIENT_ID string = identity.properties.clientId
output TASKHUB_NAME string = appSettings.TASKHUB_NAME
