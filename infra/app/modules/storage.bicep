// Storage for the Functions host (Durable Functions task hub: blobs, queues, tables), the breaker-event
// table, and the Flex Consumption deployment package. No shared keys: every client uses Entra ID.
// Plain parameter types: checkov's Bicep parser (pycep 0.5.1) cannot read user-defined types.

@description('Required. Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Required. Location of the storage account.')
param location string

@description('Required. Blob container that holds the Flex Consumption deployment package.')
param deploymentContainerName string

@description('Optional. Tags for the storage account.')
param tags object = {}

// https://learn.microsoft.com/azure/templates/microsoft.storage/storageaccounts
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_ZRS'
  }
  properties: {
    //checkov:skip=CKV_AZURE_35:The Flex Consumption app reaches the account over the public endpoint (no VNet in this template); access is Entra-only with shared keys disabled.
    //checkov:skip=CKV_AZURE_59:Same reason as CKV_AZURE_35: a private endpoint needs VNet integration, which this template does not set up.
    //checkov:skip=CKV_AZURE_206:ZRS is chosen: task-hub state is regional; geo-replication would not make Durable Functions fail over.
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.storage/storageaccounts/blobservices
resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// https://learn.microsoft.com/azure/templates/microsoft.storage/storageaccounts/blobservices/containers
resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.storage/storageaccounts/queueservices
resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

@description('Resource id of the storage account.')
output id string = storage.id

@description('Name of the storage account.')
output name string = storage.name

@description('Blob endpoint of the storage account.')
output blobEndpoint string = storage.properties.primaryEndpoints.blob
