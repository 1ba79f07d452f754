// The app identity's roles on one Log Analytics workspace that receives a target's gateway logs. Deployed once per
// distinct workspace resource id of BREAKERPANEL_TARGETS, in that workspace's resource group.
// Plain parameter types: checkov's Bicep parser (pycep 0.5.1) cannot read user-defined types.

@description('Required. Name of the Log Analytics workspace (in this resource group).')
param workspaceName string

@description('Required. Principal (object) id of the app\'s managed identity.')
param principalId string

@description('Optional. Grant Log Analytics Reader for the watchdog\'s queries; false when identity.bicep already grants it (the app\'s own workspace).')
param grantReader bool = true

// Built-in role definition ids (the same in every tenant).
var logAnalyticsReader = '73c42c96-874c-492b-b04d-ab87d138a893'

// A diagnostic setting that sends to a workspace is a linked write: ARM also checks these two actions on the
// workspace (LinkedAuthorizationFailed otherwise). Log Analytics Reader does not carry sharedKeys/action, and
// Log Analytics Contributor carries all of Microsoft.OperationalInsights/workspaces/*; this is Microsoft's own
// example of the minimum ("use it as a destination for diagnostic settings", no workspace-level queries).
// https://learn.microsoft.com/azure/azure-monitor/logs/manage-access#custom-role-examples
var destinationActions = [
  'Microsoft.OperationalInsights/workspaces/read'
  'Microsoft.OperationalInsights/workspaces/sharedKeys/action'
]

// https://learn.microsoft.com/azure/templates/microsoft.operationalinsights/workspaces
resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

// https://learn.microsoft.com/azure/templates/microsoft.authorization/roledefinitions
// https://learn.microsoft.com/azure/role-based-access-control/custom-roles
resource destinationRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, 'breakerpanel-logs-destination')
  properties: {
    roleName: 'breakerpanel gateway logs destination (${uniqueString(resourceGroup().id, principalId)})'
    description: 'Use a Log Analytics workspace as the destination of the breakerpanel gateway-logs diagnostic setting; no queries.'
    type: 'CustomRole'
    permissions: [
      {
        actions: destinationActions
        notActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.authorization/roleassignments
// On the workspace only.
resource destinationAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, destinationRole.id)
  scope: workspace
  properties: {
    roleDefinitionId: destinationRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.authorization/roleassignments
// The watchdog's KQL over ApiManagementGatewayLogs (LogsQueryClient.query_resource on the workspace id):
// Microsoft.OperationalInsights/workspaces/query/*/read and analytics/query/action.
// https://learn.microsoft.com/azure/azure-monitor/logs/manage-access#log-analytics-reader
resource workspaceReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantReader) {
  name: guid(workspace.id, principalId, logAnalyticsReader)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', logAnalyticsReader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
