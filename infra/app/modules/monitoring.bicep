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

@description('Optional. HTTPS URL the action group posts the common alert schema to (a chat or paging webhook); empty: no webhook receiver.')
@secure()
param alertWebhookUrl string = ''

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
    webhookReceivers: empty(alertWebhookUrl) ? [] : [
      {
        name: 'webhook'
        serviceUri: alertWebhookUrl
        useCommonAlertSchema: true
      }
    ]
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.insights/scheduledqueryrules
// The query text lives in ../alerts/*.kql: tests/alerts run that same text over the custom events the app
// sent to the twin, and check it with Microsoft's Kusto language service.
resource breakerStuckAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${appInsightsName}-breaker-stuck'
  location: location
  tags: tags
  properties: {
    displayName: 'breakerpanel: circuit breaker stuck open or pool degraded'
    description: 'A watchdog breaker incident (BreakerStuckOpen, PoolDegraded, PoolExhausted, BreakerBlindSpot) is open; one alert per incident, resolved when the watchdog resolves it.'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'P2D'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../alerts/breaker-stuck.kql')
          timeAggregation: 'Count'
          dimensions: [
            {
              name: 'incidentKey'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'target'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'subject'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'incidentKind'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
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
// The query text lives in ../alerts/*.kql: tests/alerts run that same text over the custom events the app
// sent to the twin, and check it with Microsoft's Kusto language service.
resource deploymentFailedAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${appInsightsName}-deployment-failed'
  location: location
  tags: tags
  properties: {
    displayName: 'breakerpanel: gateway deployment failed'
    description: 'A deployment in a target resource group failed (watchdog ProvisioningFailed incident); resolved when a later deployment of the same name succeeds.'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'P2D'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../alerts/deployment-failed.kql')
          timeAggregation: 'Count'
          dimensions: [
            {
              name: 'incidentKey'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'target'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'deployment'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
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
// The query text lives in ../alerts/*.kql: tests/alerts run that same text over the custom events the app
// sent to the twin, and check it with Microsoft's Kusto language service.
resource rolloutFailedAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${appInsightsName}-rollout-failed'
  location: location
  tags: tags
  properties: {
    displayName: 'breakerpanel: rollout failed or rolled back'
    description: 'A breakerpanel rollout failed or rolled back (RolloutCompleted event).'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../alerts/rollout-failed.kql')
          timeAggregation: 'Count'
          dimensions: [
            {
              name: 'rolloutId'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'target'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
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
