// Log Analytics + workspace-based Application Insights, the alert rules on the watchdog's custom events,
// their action group, and the breaker/rollout workbook.
// Plain parameter types: checkov's Bicep parser (pycep 0.5.1) cannot read user-defined types.

@description('Required. Name of the Log Analytics workspace (also the natural target of the gateway logs).')
param workspaceName string

@description('Required. Name of the Application Insights component.')
param appInsightsName string

@description('Required. Location of the monitoring resources.')
param location string

@description('Optional. Days the workspace keeps data.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

@description('Optional. E-mail address the action group notifies; empty: the action group has no receiver.')
param alertEmail string = ''

@description('Optional. customEvents name the watchdog writes when a breaker opens.')
param breakerOpenedEventName string = 'BreakerOpened'

@description('Optional. customEvents name the watchdog (next on the roadmap) writes for a failed deployment.')
param deploymentFailedEventName string = 'DeploymentFailed'

@description('Optional. Tags for every resource.')
param tags object = {}

// https://learn.microsoft.com/azure/templates/microsoft.operationalinsights/workspaces
resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.insights/components
resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    // Telemetry is sent with the app's managed identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING).
    DisableLocalAuth: true
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.insights/actiongroups
resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${appInsightsName}-ag'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'breakerpnl'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.insights/scheduledqueryrules
resource breakerOpenedAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${appInsightsName}-breaker-opened'
  location: location
  tags: tags
  properties: {
    displayName: 'breakerpanel: circuit breaker opened'
    description: 'A backend circuit breaker opened in an APIM pool (watchdog event ${breakerOpenedEventName}).'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: 'customEvents | where name == "${breakerOpenedEventName}"'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.insights/scheduledqueryrules
resource deploymentFailedAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${appInsightsName}-deployment-failed'
  location: location
  tags: tags
  properties: {
    displayName: 'breakerpanel: gateway deployment failed'
    description: 'A gateway rollout deployment failed (rollout event ${deploymentFailedEventName}).'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: 'customEvents | where name == "${deploymentFailedEventName}"'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.insights/workbooks
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, appInsightsName, 'breakerpanel-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'breakerpanel: breakers and rollouts'
    category: 'workbook'
    sourceId: appInsights.id
    serializedData: loadTextContent('../workbook.json')
  }
}

@description('Resource id of the Log Analytics workspace.')
output workspaceId string = workspace.id

@description('Name of the Log Analytics workspace.')
output workspaceName string = workspace.name

@description('Workspace (customer) id the Logs query API takes.')
output workspaceCustomerId string = workspace.properties.customerId

@description('Resource id of Application Insights.')
output appInsightsId string = appInsights.id

@description('Name of Application Insights.')
output appInsightsName string = appInsights.name

@description('Application Insights connection string (not a secret: ingestion needs an Entra token, local auth is off).')
output appInsightsConnectionString string = appInsights.properties.ConnectionString

@description('Resource id of the action group.')
output actionGroupId string = actionGroup.id

@description('Resource id of the workbook.')
output workbookId string = workbook.id
