// The roles the app's identity needs in one target's resource group to roll out, verify, roll back and watch the
// gateway template (infra/gateway/main.json). Deployed once per target, at that target's resource-group scope.
// Two custom roles hold exactly the operations the app performs (tests/infra/test_app_roles.py derives that
// inventory from the code and from main.json, and fails when a role lacks one or grants an unused one):
//   - deployments, assigned on the resource group: a deployment is a resource-group resource, and a role on the
//     APIM instance does not reach Microsoft.Resources/deployments at the group;
//   - gateway, assigned on the APIM instance only: what main.json deploys there, and what verify and the
//     watchdog read back.
// No built-in Contributor-style role: API Management Service Contributor grants Microsoft.ApiManagement/service/*
// (users, subscriptions, named values, certificates, the service itself), far more than backends and one API.
// Plain parameter types: checkov's Bicep parser (pycep 0.5.1) cannot read user-defined types.

@description('Required. Name of the target API Management instance.')
param apimServiceName string

@description('Required. Principal (object) id of the app\'s managed identity.')
param principalId string

@description('Optional. Whether the watchdog queries this instance\'s logs resource-centrically (the target has no logAnalyticsWorkspaceId): then it needs Log Analytics Reader on the instance.')
param resourceCentricLogs bool = false

// Built-in role definition ids (the same in every tenant).
var logAnalyticsReader = '73c42c96-874c-492b-b04d-ab87d138a893'

// Operations on Microsoft.Resources/deployments, as the app calls them through DeploymentsMgmtClient
// (activities/deployments.py, breakerpanel/watchdog/collect.py). Each is named in Microsoft's operation list:
// https://learn.microsoft.com/azure/role-based-access-control/permissions/management-and-governance#microsoftresources
var deploymentActions = [
  // deployments.get and list_by_resource_group: the rollout's state and re-attach, the rollback point, the
  // watchdog's recent deployments.
  'Microsoft.Resources/deployments/read'
  // deployments.begin_create_or_update: the rollout and the rollback.
  'Microsoft.Resources/deployments/write'
  // deployments.begin_validate: preflight.
  'Microsoft.Resources/deployments/validate/action'
  // deployments.begin_what_if: the what-if shown at approval.
  'Microsoft.Resources/deployments/whatIf/action'
  // deployments.cancel: a stuck or terminated rollout.
  'Microsoft.Resources/deployments/cancel/action'
  // deployment_operations.list: failed operations and their diagnosis (rollout and watchdog).
  'Microsoft.Resources/deployments/operations/read'
  // The Azure-AsyncOperation / Location status the SDK polls after validate, what-if and create.
  'Microsoft.Resources/deployments/operationstatuses/read'
  // The breaker-event system topic and its subscription to this app's breaker_events function, which main.json
  // deploys into the group (read also for the prerequisites' system-topic listing and what-if).
  // https://learn.microsoft.com/azure/role-based-access-control/permissions/integration#microsofteventgrid
  'Microsoft.EventGrid/systemTopics/read'
  'Microsoft.EventGrid/systemTopics/write'
  'Microsoft.EventGrid/systemTopics/eventSubscriptions/read'
  'Microsoft.EventGrid/systemTopics/eventSubscriptions/write'
]

// What main.json deploys into the instance (write) and what what-if, verify and the watchdog read (read).
// https://learn.microsoft.com/azure/role-based-access-control/permissions/integration#microsoftapimanagement
// https://learn.microsoft.com/azure/role-based-access-control/permissions/monitor#microsoftinsights
var gatewayActions = [
  // The existing instance the template's resources are children of.
  'Microsoft.ApiManagement/service/read'
  // The Single backends and the pool (template); backend.list_by_service / backend.get (verify, watchdog).
  'Microsoft.ApiManagement/service/backends/read'
  'Microsoft.ApiManagement/service/backends/write'
  // The API, its two wildcard operations and its policy.
  'Microsoft.ApiManagement/service/apis/read'
  'Microsoft.ApiManagement/service/apis/write'
  'Microsoft.ApiManagement/service/apis/operations/read'
  'Microsoft.ApiManagement/service/apis/operations/write'
  'Microsoft.ApiManagement/service/apis/policies/read'
  'Microsoft.ApiManagement/service/apis/policies/write'
  // The API's Azure Monitor diagnostic (azuremonitor), which logs the backends' Retry-After to the gateway logs.
  'Microsoft.ApiManagement/service/apis/diagnostics/read'
  'Microsoft.ApiManagement/service/apis/diagnostics/write'
  // The gateway logs diagnostic setting, an extension resource on the instance. Its workspace side
  // (sharedKeys/action) is granted on the workspace, in workspace-access.bicep.
  'Microsoft.Insights/diagnosticSettings/read'
  'Microsoft.Insights/diagnosticSettings/write'
]

// https://learn.microsoft.com/azure/templates/microsoft.apimanagement/service
resource apim 'Microsoft.ApiManagement/service@2024-05-01' existing = {
  name: apimServiceName
}

// https://learn.microsoft.com/azure/templates/microsoft.authorization/roledefinitions
// Custom roles are stored per tenant under a unique roleName and a guid; assignable only in this resource group.
// https://learn.microsoft.com/azure/role-based-access-control/custom-roles
resource deploymentsRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, 'breakerpanel-deployments')
  properties: {
    roleName: 'breakerpanel deployments (${uniqueString(resourceGroup().id, principalId)})'
    description: 'Validate, what-if, run, cancel and read the breakerpanel gateway deployments in this resource group, read their operations, and keep the breaker-event system topic and subscription they deploy.'
    type: 'CustomRole'
    permissions: [
      {
        actions: deploymentActions
        notActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.authorization/roledefinitions
resource gatewayRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, 'breakerpanel-gateway')
  properties: {
    roleName: 'breakerpanel gateway (${uniqueString(resourceGroup().id, principalId)})'
    description: 'Deploy and read the breakerpanel backends, pool, API, operations, policy and gateway-logs diagnostic setting of an API Management instance.'
    type: 'CustomRole'
    permissions: [
      {
        actions: gatewayActions
        notActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.authorization/roleassignments
// On the resource group: deployments are resource-group resources.
resource deploymentsAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, deploymentsRole.id)
  properties: {
    roleDefinitionId: deploymentsRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.authorization/roleassignments
// On this instance only: other APIM instances in the group stay out of reach.
resource gatewayAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(apim.id, principalId, gatewayRole.id)
  scope: apim
  properties: {
    roleDefinitionId: gatewayRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.authorization/roleassignments
// A target without logAnalyticsWorkspaceId is watched with a resource-centric query on the instance
// (LogsQueryClient.query_resource): that reads Microsoft.Insights/logs/*/read on the instance, which Log Analytics
// Reader there grants; the workspace must allow resource-context access ("Use resource or workspace permissions").
// https://learn.microsoft.com/azure/azure-monitor/logs/manage-access#access-control-mode
resource resourceLogsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (resourceCentricLogs) {
  name: guid(apim.id, principalId, logAnalyticsReader)
  scope: apim
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', logAnalyticsReader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Resource id of the target API Management instance.')
output apimId string = apim.id
