// The app identity's right to be the destination of the breaker-event subscriptions the rollout deploys: Event
// Grid checks write access on a non-WebHook destination when the subscription is created ("you need write access
// to that resource"), here the breaker_events function of this app. Deployed after the function app.
// Plain parameter types (see workspace-access.bicep).

@description('Required. Name of this app\'s function app (in this resource group).')
param functionAppName string

@description('Required. Principal (object) id of the app\'s managed identity.')
param principalId string

// The destination is <app>/functions/breaker_events: write on it is Microsoft.Web/sites/functions/write (the
// linked check the twin's RBAC mode makes too). Assigned on the app alone, which holds only this app's functions.
// https://learn.microsoft.com/azure/event-grid/security-authorization#permissions-for-event-subscriptions
var destinationActions = [
  'Microsoft.Web/sites/functions/write'
]

// https://learn.microsoft.com/azure/templates/microsoft.web/sites
resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

// https://learn.microsoft.com/azure/templates/microsoft.authorization/roledefinitions
resource destinationRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, 'breakerpanel-events-destination')
  properties: {
    roleName: 'breakerpanel breaker events destination (${uniqueString(resourceGroup().id, principalId)})'
    description: 'Name this function app\'s breaker_events function as the destination of Event Grid subscriptions; nothing else.'
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
resource destinationAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(app.id, principalId, destinationRole.id)
  scope: app
  properties: {
    roleDefinitionId: destinationRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
