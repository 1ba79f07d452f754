metadata name = 'breakerpanel app'
metadata description = 'The breakerpanel function app (Durable Functions on Flex Consumption) with keyless storage, Application Insights on Log Analytics, a least-privilege user-assigned identity, alert rules and a workbook.'

// azd entry point (azure.yaml: infra.path infra/app). Resource-group scope: azd deploys into
// AZURE_RESOURCE_GROUP. Holds no resources itself, only modules, so every resource sits in a module
// that checkov's Bicep parser can read.
targetScope = 'resourceGroup'

// ================ //
// Parameters       //
// ================ //

@description('Required. azd environment name; names and tags derive from it.')
@minLength(1)
@maxLength(40)
param environmentName string

@description('Optional. Location of every resource; Flex Consumption must be available there.')
param location string = resourceGroup().location

@description('Required. The APIM instances the app rolls out to and watches. The identity gets its roles in each target\'s resource group; BREAKERPANEL_TARGETS carries the list to the app.')
param targets targetType[]

@description('Optional. E-mail address the alerts notify; empty: alerts fire without a receiver.')
param alertEmail string = ''

@description('Optional. Azure Resource Manager endpoint the app calls (BREAKERPANEL_ARM_ENDPOINT).')
param armEndpoint string = environment().resourceManager

@description('Optional. Log Analytics query endpoint the app calls (BREAKERPANEL_LOGS_ENDPOINT); empty: the deployment cloud\'s own (api.loganalytics.io, api.loganalytics.us, api.loganalytics.azure.cn).')
param logsEndpoint string = ''

@description('Optional. How often the watchdog runs (BREAKERPANEL_WATCH_SCHEDULE): a six-field NCRONTAB expression.')
param watchSchedule string = '0 */5 * * * *'

@description('Required. Application (client) id of the Microsoft Entra app registration (app roles Rollout.Deploy and Rollout.Approve) that App Service Authentication admits callers for. See infra/README.md, "App registration".')
@minLength(36)
@maxLength(36)
param authClientId string

@description('Optional. Host names or .domain suffixes backend URLs may point at (BREAKERPANEL_BACKEND_HOSTS); empty: the Azure OpenAI / AI Services domains. Add custom domains and private endpoint names here.')
param backendHosts array = []

@description('Optional. Webhook the action group posts fired and resolved alerts to (common alert schema); empty: e-mail only.')
@secure()
param alertWebhookUrl string = ''

@description('Optional. Webhook the app posts each incident and rollout notification to (BREAKERPANEL_WEBHOOK_URL): a Teams Workflows or Slack incoming-webhook URL is a credential, so pass a Key Vault reference (@Microsoft.KeyVault(SecretUri=...)) or a secure value; empty: no webhook.')
@secure()
param webhookUrl string = ''

@description('Optional. HMAC-SHA256 key the app signs webhook bodies with (BREAKERPANEL_WEBHOOK_SECRET); a Key Vault reference or a secure value; empty: unsigned.')
@secure()
param webhookSecret string = ''

@description('Optional. Body the webhook receives (BREAKERPANEL_WEBHOOK_FORMAT): generic, teams or slack.')
@allowed([
  'generic'
  'teams'
  'slack'
])
param webhookFormat string = 'generic'

// ================ //
// Variables        //
// ================ //

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = {
  'azd-env-name': environmentName
  application: 'breakerpanel'
}
var functionAppName = 'func-breakerpanel-${token}'
var deploymentContainerName = 'app-package-${take(token, 8)}'
// The distinct workspace resource ids of the targets (union of arrays drops duplicates; ids compared lower-cased).
var gatewayWorkspaceIds = union(
  map(
    filter(targets, target => startsWith(toLower(target.?logAnalyticsWorkspaceId ?? ''), '/subscriptions/')),
    target => toLower(target.logAnalyticsWorkspaceId!)
  ),
  []
)

// The distinct target subscriptions (lower-cased), for the one subscription-level read the rollout makes.
var targetSubscriptionIds = union(map(targets, target => toLower(target.subscriptionId)), [])

// ================ //
// Modules          //
// ================ //

module monitoring 'modules/monitoring.bicep' = {
  name: 'breakerpanel-monitoring'
  params: {
    workspaceName: 'log-breakerpanel-${token}'
    appInsightsName: 'appi-breakerpanel-${token}'
    location: location
    alertEmail: alertEmail
    alertWebhookUrl: alertWebhookUrl
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'breakerpanel-storage'
  params: {
    name: 'stbp${token}'
    location: location
    deploymentContainerName: deploymentContainerName
    tags: tags
  }
}

module identity 'modules/identity.bicep' = {
  name: 'breakerpanel-identity'
  params: {
    name: 'id-breakerpanel-${token}'
    location: location
    storageAccountName: storage.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    workspaceName: monitoring.outputs.workspaceName
    tags: tags
  }
}

module apimAccess 'modules/apim-access.bicep' = [
  for target in targets: {
    name: 'breakerpanel-access-${uniqueString(target.subscriptionId, target.resourceGroup, target.apimName)}'
    scope: resourceGroup(target.subscriptionId, target.resourceGroup)
    params: {
      apimServiceName: target.apimName
      principalId: identity.outputs.principalId
      resourceCentricLogs: empty(target.?logAnalyticsWorkspaceId ?? '')
    }
  }
]

// One per distinct workspace (resource id) that receives a target's gateway logs, in that workspace's resource
// group: the diagnostic setting's linked check on the workspace, and the watchdog's queries. A workspace given as
// a GUID (customer id) cannot be resolved here: grant those two roles by hand (infra/README.md).
module workspaceAccess 'modules/workspace-access.bicep' = [
  for workspaceId in gatewayWorkspaceIds: {
    name: 'breakerpanel-logs-${uniqueString(workspaceId)}'
    scope: resourceGroup(split(workspaceId, '/')[2], split(workspaceId, '/')[4])
    params: {
      workspaceName: last(split(workspaceId, '/'))
      principalId: identity.outputs.principalId
      // identity.bicep already gives the app's own workspace Log Analytics Reader.
      grantReader: workspaceId != toLower(monitoring.outputs.workspaceId)
    }
  }
]

// One per distinct target subscription: the rollout's prerequisites read whether Microsoft.Insights and
// Microsoft.EventGrid are registered there (Providers_Get is authorized at the subscription only).
module subscriptionAccess 'modules/subscription-access.bicep' = [
  for subscriptionId in targetSubscriptionIds: {
    name: 'breakerpanel-prereq-${uniqueString(subscriptionId)}'
    scope: subscription(subscriptionId)
    params: {
      principalId: identity.outputs.principalId
    }
  }
]

// After the function app: the rollout's breaker-event subscriptions name its breaker_events function, and Event
// Grid checks that whoever creates one may write to that destination.
module eventsAccess 'modules/events-access.bicep' = {
  name: 'breakerpanel-events-access'
  params: {
    functionAppName: functionApp.outputs.name
    principalId: identity.outputs.principalId
  }
}

// Uses identity.outputs, so it deploys after the identity module: the host starts with identity-based
// storage, and the role assignments made there already exist.
module functionApp 'modules/functionapp.bicep' = {
  name: 'breakerpanel-functionapp'
  params: {
    name: functionAppName
    planName: 'plan-breakerpanel-${token}'
    location: location
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    authClientId: authClientId
    breakerpanelSettings: {
      // The cloud the app is deployed to ('AzureCloud', 'AzureUSGovernment', 'AzureChinaCloud'): its token scopes
      // and the only hosts the managed identity's token may be sent to.
      BREAKERPANEL_CLOUD: environment().name
      BREAKERPANEL_ARM_ENDPOINT: armEndpoint
      BREAKERPANEL_LOGS_ENDPOINT: logsEndpoint
      BREAKERPANEL_CREDENTIAL: 'default'
      BREAKERPANEL_TARGETS: string(targets)
      BREAKERPANEL_TASK_HUB: 'breakerpanel'
      BREAKERPANEL_DEPLOYER_ROLE: 'Rollout.Deploy'
      BREAKERPANEL_APPROVER_ROLE: 'Rollout.Approve'
      BREAKERPANEL_APPROVAL_TIMEOUT: 'P1D'
      BREAKERPANEL_DEPLOY_TIMEOUT: 'PT2H'
      BREAKERPANEL_SDK_RETRY_TOTAL: '0'
      BREAKERPANEL_WATCH_SCHEDULE: watchSchedule
      BREAKERPANEL_WATCH_LOOKBACK: 'PT1H'
      BREAKERPANEL_WATCH_INGESTION_LAG: 'PT3M'
      BREAKERPANEL_WATCH_STUCK_AFTER: ''
      BREAKERPANEL_WATCH_EXHAUSTED_AFTER: 'PT2M'
      BREAKERPANEL_WATCH_BLIND_SPOT_AFTER: 'PT5M'
      BREAKERPANEL_WATCH_RECOVERY: 'PT5M'
      BREAKERPANEL_WATCH_MAX_RETRY_AFTER: 'PT1H'
      // Incidents, watermarks and breaker events live in the app's own storage account, reached with the
      // identity (AzureWebJobsStorage__accountName; Storage Table Data Contributor is granted in identity).
      BREAKERPANEL_STORE: 'table'
      BREAKERPANEL_STORE_TABLE: 'breakerpanel'
      BREAKERPANEL_STORE_RETRY_TOTAL: '2'
      // Callers are who App Service Authentication vouches for (authsettingsV2 in functionapp.bicep); four
      // eyes on; backend URLs only to the listed hosts (empty: the Azure OpenAI / AI Services domains).
      BREAKERPANEL_AUTH: 'easyAuth'
      BREAKERPANEL_ALLOW_SELF_APPROVAL: 'false'
      BREAKERPANEL_BACKEND_HOSTS: join(backendHosts, ',')
      // This app's own resource id: every rollout subscribes its breaker_events function to the instance's
      // circuit-breaker events (Azure Function destination; the right to name it is events-access.bicep's).
      BREAKERPANEL_EVENTS_FUNCTION_ID: resourceId('Microsoft.Web/sites', functionAppName)
      BREAKERPANEL_WEBHOOK_URL: webhookUrl
      BREAKERPANEL_WEBHOOK_SECRET: webhookSecret
      BREAKERPANEL_WEBHOOK_FORMAT: webhookFormat
      BREAKERPANEL_ALERT_TIMEOUT: '10'
    }
    tags: union(tags, {
      'azd-service-name': 'api'
    })
  }
}

// ================ //
// Outputs          //
// ================ //

@description('Resource id of the function app; pass it as functionAppResourceId to infra/gateway/main.json.')
output functionAppResourceId string = functionApp.outputs.id

@description('Name of the function app.')
output functionAppName string = functionApp.outputs.name

@description('Resource id of the Log Analytics workspace; pass it as logAnalyticsWorkspaceId to the gateway template.')
output logAnalyticsWorkspaceId string = monitoring.outputs.workspaceId

@description('Resource id of Application Insights.')
output appInsightsId string = monitoring.outputs.appInsightsId

@description('Client id of the app\'s user-assigned identity.')
output identityClientId string = identity.outputs.clientId

@description('Resource id of the workbook.')
output workbookId string = monitoring.outputs.workbookId

// ================ //
// Definitions      //
// ================ //

@description('One APIM instance the app may change: the shape of BREAKERPANEL_TARGETS (breakerpanel/targets.py).')
type targetType = {
  @description('Required. Subscription of the APIM instance.')
  subscriptionId: string

  @description('Required. Resource group of the APIM instance (the gateway template deploys there).')
  resourceGroup: string

  @description('Required. Name of the APIM instance.')
  apimName: string

  @description('Optional. Resource id of the Log Analytics workspace that receives this instance\'s gateway logs; the rollout points the gateway\'s diagnostic setting at it.')
  logAnalyticsWorkspaceId: string?
}
