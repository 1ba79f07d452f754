// The app identity's one subscription-level read in a target's subscription: whether the resource providers the
// gateway template deploys into are registered (the rollout's prerequisites, activities/prerequisites.py).
// Deployed once per distinct target subscription. Plain parameter types (see workspace-access.bicep).
targetScope = 'subscription'

@description('Required. Principal (object) id of the app\'s managed identity.')
param principalId string

// Providers_Get is authorized at the subscription (Microsoft.Resources/subscriptions/providers/read over
// /subscriptions/<id>); no role on a resource group reaches it. Registering stays with a person: the app holds no
// providers/register/action.
var prerequisiteActions = [
  'Microsoft.Resources/subscriptions/providers/read'
]

// https://learn.microsoft.com/azure/templates/microsoft.authorization/roledefinitions
resource prerequisitesRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, principalId, 'breakerpanel-prerequisites')
  properties: {
    roleName: 'breakerpanel prerequisites (${uniqueString(subscription().id, principalId)})'
    description: 'Read the registration state of resource providers before a breakerpanel rollout; nothing else.'
    type: 'CustomRole'
    permissions: [
      {
        actions: prerequisiteActions
        notActions: []
      }
    ]
    assignableScopes: [
      subscription().id
    ]
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.authorization/roleassignments
resource prerequisitesAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, prerequisitesRole.id)
  properties: {
    roleDefinitionId: prerequisitesRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
