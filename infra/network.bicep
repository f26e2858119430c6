// Optional private networking (main.bicep deploys this module only when vnetEnabled is true):
//   - a virtual network with two subnets: `app` (delegated to Microsoft.App/environments, which
//     Flex Consumption virtual network integration requires) and `private-endpoints`;
//   - one private endpoint per storage service the app uses (blob, queue, table), each registered
//     in its private DNS zone (privatelink.<service>.<storage suffix>) linked to the network, so the
//     account's usual host names resolve to private addresses inside the network.
// main.bicep turns the storage account's public network access off in the same case.

@description('Region of the network resources (private DNS zones are global).')
param location string

@description('Tags for every resource.')
param tags object

@description('Name of the virtual network.')
param vnetName string

@description('Subnet the function app joins (virtual network integration).')
param appSubnetName string

@description('Subnet that holds the storage private endpoints.')
param privateEndpointSubnetName string

@description('Resource id of the storage account the private endpoints connect to.')
param storageAccountId string

@description('Name of the storage account (names the private endpoints).')
param storageAccountName string

@description('Address space of the virtual network.')
param addressPrefix string = '10.0.0.0/16'

@description('Address range of the app subnet.')
param appSubnetPrefix string = '10.0.1.0/24'

@description('Address range of the private endpoint subnet.')
param privateEndpointSubnetPrefix string = '10.0.2.0/24'

// The storage services the app and the Functions host use; Azure Files is not used on Flex Consumption.
var storageServices = [
  'blob'
  'queue'
  'table'
]

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: vnetName
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: appSubnetName
        properties: {
          addressPrefix: appSubnetPrefix
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: privateEndpointSubnetName
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

resource privateDnsZones 'Microsoft.Network/privateDnsZones@2020-06-01' = [for service in storageServices: {
  name: 'privatelink.${service}.${environment().suffixes.storage}'
  location: 'global'
  tags: tags
}]

resource privateDnsZoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [for (service, i) in storageServices: {
  parent: privateDnsZones[i]
  name: '${vnetName}-link'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [for service in storageServices: {
  name: 'pe-${storageAccountName}-${service}'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, privateEndpointSubnetName)
    }
    privateLinkServiceConnections: [
      {
        name: 'storage-${service}'
        properties: {
          privateLinkServiceId: storageAccountId
          groupIds: [
            service
          ]
        }
      }
    ]
  }
}]

resource privateDnsZoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [for (service, i) in storageServices: {
  parent: privateEndpoints[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: 'privatelink-${service}'
        properties: {
          privateDnsZoneId: privateDnsZones[i].id
        }
      }
    ]
  }
}]

output vnetId string = vnet.id
output appSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, appSubnetName)
output privateEndpointSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, privateEndpointSubnetName)
