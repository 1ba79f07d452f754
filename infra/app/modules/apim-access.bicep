// The roles the app's identity needs in one target's resource group to roll out and verify the gateway
// template (infra/gateway/main.json). Deployed once per target, at that target's resource-group scope.
// Plain parameter types: checkov's Bicep parser (pycep 0.5.1) cannot read user-defined types.

@description('Required. Name of the target API Management instance.')
param apimServiceName string

@description('Required. Principal (object) id of the app\'s managed identity.')
param principalId string

// Built-in role definition ids (the same in every tenant).
var apimServiceContributor = '312a565d-c81f-4fd8-895a-4e21e48d571c'
var monitoringContributor = '749f88d5-cbae-40b8-bcfc-e573ddc772fa'
var eventGridContributor = '1e241071-0855-49ea-94dc-649edcd759de'

// https://learn.microsoft.com/azure/templates/microsoft.apimanagement/service
resource apim 'Microsoft.ApiManagement/service@2024-05-01' existing = {
  name: apimServiceName
}

// https://learn.microsoft.com/azure/templates/microsoft.authorization/roleassignments
// Backends, pool, API, operations and policy (Microsoft.ApiManagement/service/*) on this instance only;
// the role also carries Microsoft.Resources/deployments/*, so the identity can run, validate, what-if and
// cancel the gateway deployment in this resource group and read its operations.
resource apimContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(apim.id, principalId, apimServiceContributor)
  scope: apim
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', apimServiceContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.authorization/roleassignments
// The gateway template's diagnostic setting (Microsoft.Insights/diagnosticSettings/*) on the instance.
resource diagnosticsContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(apim.id, principalId, monitoringContributor)
  scope: apim
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.authorization/roleassignments
// The Event Grid system topic is a resource-group-level resource beside the instance, so this one role
// is scoped to the resource group; it grants Microsoft.EventGrid/* only, nothing else in the group.
resource eventGridContributorAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, eventGridContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

@description('Resource id of the target API Management instance.')
output apimId string = apim.id
