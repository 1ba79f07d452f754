// The Flex Consumption plan and the Python function app (Durable Functions) with identity-only access
// to storage, Application Insights and Azure.
// Plain parameter types: checkov's Bicep parser (pycep 0.5.1) cannot read user-defined types.

@description('Required. Name of the function app.')
param name string

@description('Required. Name of the Flex Consumption plan.')
param planName string

@description('Required. Location of the plan and the app.')
param location string

@description('Required. Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Required. Client id of the user-assigned identity.')
param identityClientId string

@description('Required. Name of the storage account (AzureWebJobsStorage, identity-based).')
param storageAccountName string

@description('Required. Blob endpoint of the storage account, e.g. https://x.blob.core.windows.net/.')
param storageBlobEndpoint string

@description('Required. Container that holds the deployment package.')
param deploymentContainerName string

@description('Required. Application Insights connection string.')
param appInsightsConnectionString string

@description('Required. App settings that configure breakerpanel itself (BREAKERPANEL_*).')
param breakerpanelSettings object

@description('Required. Application (client) id of the Microsoft Entra app registration that defines the app roles Rollout.Deploy and Rollout.Approve (infra/README.md, "App registration").')
param authClientId string

@description('Optional. Tenant of the app registration.')
param authTenantId string = tenant().tenantId

@description('Optional. Most instances Flex Consumption may scale out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Optional. Memory of each instance in MB.')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Optional. Tags for every resource; azd finds the app by its azd-service-name tag.')
param tags object = {}

// Flex Consumption refuses FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION settings: the runtime
// is declared in functionAppConfig.runtime instead.
var hostSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  AZURE_CLIENT_ID: identityClientId
}

var appSettings = union(hostSettings, breakerpanelSettings)

// https://learn.microsoft.com/azure/templates/microsoft.web/serverfarms
resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  //checkov:skip=CKV_AZURE_225:Zone redundancy on Flex Consumption exists only in some regions; a failed zone only delays the timer-driven watchdog, and Durable state is in ZRS storage.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.web/sites
resource app 'Microsoft.Web/sites@2024-04-01' = {
  //checkov:skip=CKV_AZURE_222:The app must be reachable publicly: Event Grid delivers circuit-breaker events to it and operators call its HTTP API (function keys); no VNet/private endpoint in this template.
  //checkov:skip=CKV_AZURE_17:Incoming client certificates cannot be used: Event Grid's Azure Function delivery does not present one.
  //checkov:skip=CKV_AZURE_212:CKV_AZURE_212 reads siteConfig.numberOfWorkers, which Flex Consumption does not use; its equivalent, one always-ready instance for the durable group, is set in functionAppConfig.scaleAndConcurrency.alwaysReady.
  //checkov:skip=CKV_AZURE_213:App Service health check evicts unhealthy instances of a fixed pool; Flex Consumption instances are platform-managed and scale to zero, so the app exposes no health-check path.
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [for setting in items(appSettings): {
        name: setting.key
        value: setting.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        // One always-ready instance for the `durable` group (orchestrators, activities, entities): Microsoft's
        // guidance for Durable Functions on Flex Consumption, so a durable timer or an approval event resumes
        // without a cold start after scale to zero. Paired with maxQueuePollingInterval 00:00:10 in host.json.
        // https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-azure-storage-provider#flex-consumption-plan
        // https://learn.microsoft.com/azure/azure-functions/flex-consumption-how-to#set-always-ready-instance-counts
        alwaysReady: [
          {
            name: 'durable'
            instanceCount: 1
          }
        ]
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// App Service Authentication (Easy Auth) with Microsoft Entra ID, required for every request: a caller without
// a valid token for this app registration gets 401 before the code runs, and the platform then writes the
// X-MS-CLIENT-PRINCIPAL headers itself (and strips any a caller sent) — the only identity the app trusts
// (BREAKERPANEL_AUTH=easyAuth; it checks WEBSITE_AUTH_ENABLED, which the platform injects).
// https://learn.microsoft.com/azure/templates/microsoft.web/sites/config-authsettingsv2
resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
  //checkov:skip=CKV_AZURE_13:This is the authsettingsV2 shape: platform.enabled and globalValidation.requireAuthentication turn authentication on (tests/infra/test_app_infra.py asserts them); checkov reads only the classic authsettings properties.enabled.
  //checkov:skip=CKV_AZURE_63:A site-level check (HTTP logging) that checkov also applies to this sites/config child; the site resource itself is scanned.
  //checkov:skip=CKV_AZURE_65:A site-level check (detailed error messages) that checkov also applies to this sites/config child; the site resource itself is scanned.
  //checkov:skip=CKV_AZURE_66:A site-level check (failed request tracing) that checkov also applies to this sites/config child; the site resource itself is scanned.
  //checkov:skip=CKV_AZURE_80:A site-level check (.NET Framework version) that checkov also applies to this sites/config child; the app runs Python 3.11.
  //checkov:skip=CKV_AZURE_88:A site-level check (Azure Files) that checkov also applies to this sites/config child; Flex Consumption deploys from a blob container.
  //checkov:skip=CKV_AZURE_222:A site-level check (public network access) that checkov also applies to this sites/config child; the site carries the justified skip.
  //checkov:skip=CKV_AZURE_225:A plan-level check (zone redundancy) that checkov also applies to this sites/config child; the plan carries the justified skip.
  parent: app
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      // Event Grid's Azure Function delivery carries no Entra token; that path is guarded by the Event Grid
      // extension's system key instead. The watchdog's health route is for uptime probes (an availability test
      // sends the function key as x-functions-key) and answers statuses, never evidence or secrets. Everything
      // else, the Durable management API included, needs a token.
      excludedPaths: [
        '/runtime/webhooks/eventgrid'
        '/api/health'
      ]
    }
    httpSettings: {
      requireHttps: true
      forwardProxy: {
        convention: 'NoProxy'
      }
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${authTenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${authClientId}'
            authClientId
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

@description('Resource id of the function app (the gateway template\'s functionAppResourceId).')
output id string = app.id

@description('Name of the function app.')
output name string = app.name

@description('Default host name of the function app.')
output defaultHostName string = app.properties.defaultHostName

@description('Resource id of the Flex Consumption plan.')
output planId string = plan.id
