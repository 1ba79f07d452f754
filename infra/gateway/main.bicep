metadata name = 'breakerpanel gateway'
metadata description = 'Azure OpenAI behind an existing API Management instance: one circuit-broken backend per endpoint, a priority/weight pool over them, the API with its retry policy, gateway logs to Log Analytics and circuit-breaker events to Event Grid.'

targetScope = 'resourceGroup'

// The types live in their own file: checkov's Bicep parser (pycep) cannot read decorators on type
// properties, and this way it still scans every resource here.
import { backendType, breakerRuleType, statusCodeRangeType } from 'types.bicep'

// ================ //
// Parameters       //
// ================ //

@description('Required. Name of the existing API Management instance. Backend pools need a classic or v2 Developer, Basic, Standard or Premium tier (not Consumption).')
param apimServiceName string

@description('Required. The Azure OpenAI endpoints. Each becomes one Single backend with the circuit breaker rule, and one member of the pool.')
@minLength(1)
@maxLength(30)
param backends backendType[]

@description('Required. The circuit breaker rule given to every backend (APIM allows exactly one rule per backend).')
param breakerRule breakerRuleType

@description('Required. Backend id of the Pool backend the API routes to.')
@minLength(1)
@maxLength(80)
param poolName string

@description('Optional. Name (id) of the API that fronts Azure OpenAI.')
param apiName string = 'azure-openai'

@description('Optional. URL suffix of the API on the gateway.')
param apiPath string = 'openai'

@description('Optional. Resource id of the Log Analytics workspace that receives the gateway logs (table ApiManagementGatewayLogs). Empty: no diagnostic setting.')
param logAnalyticsWorkspaceId string = ''

@description('Optional. Webhook URL that receives the circuit-breaker events, used only when functionAppResourceId is empty. It may carry a function key, hence secure. Empty with functionAppResourceId empty: no Event Grid subscription.')
@secure()
param eventGridEndpointUrl string = ''

@description('Optional. Resource id of the function app that receives the circuit-breaker events (Azure Function destination, no key). Empty: use eventGridEndpointUrl.')
param functionAppResourceId string = ''

@description('Optional. Name of the Event Grid triggered function inside functionAppResourceId.')
param eventGridFunctionName string = 'breaker_events'

@description('Optional. Name of the Event Grid system topic of the API Management instance. An instance can have only one system topic: give the existing one\'s name if it has one.')
param systemTopicName string = '${apimServiceName}-events'

@description('Optional. Location of the Event Grid system topic; it must be the API Management instance\'s location.')
param location string = resourceGroup().location

// ================ //
// Variables        //
// ================ //

// One attempt per pool member: the first call plus (members - 1) retries, and at least one retry so a
// single-backend pool still rides out a short 429.
var retryCount = max(length(backends) - 1, 1)

var policyXml = replace(replace(loadTextContent('policy.xml'), '__POOL_NAME__', poolName), '__RETRY_COUNT__', string(retryCount))

// Optional members of the rule are left out when unset, never written as null: APIM reads the rule it is
// sent, and a null count, percentage or failureResponse is a value to validate, not an absent one.
var failureThreshold = union(
  breakerRule.?failureCount == null ? {} : { count: breakerRule.failureCount },
  breakerRule.?failurePercentage == null ? {} : { percentage: breakerRule.failurePercentage }
)

var circuitBreakerRule = union(
  {
    name: breakerRule.name
    failureCondition: union(failureThreshold, {
      interval: breakerRule.interval
      statusCodeRanges: breakerRule.statusCodeRanges
      errorReasons: breakerRule.errorReasons
    })
    tripDuration: breakerRule.tripDuration
    acceptRetryAfter: breakerRule.acceptRetryAfter
  },
  breakerRule.?failureResponseStatusCode == null ? {} : { failureResponse: { statusCode: breakerRule.failureResponseStatusCode } }
)

var eventsEnabled = !empty(functionAppResourceId) || !empty(eventGridEndpointUrl)

// An Azure Function destination needs no key; the webhook form is for receivers outside a function app.
var breakerEventDestination = empty(functionAppResourceId) ? {
  endpointType: 'WebHook'
  properties: {
    endpointUrl: eventGridEndpointUrl
  }
} : {
  endpointType: 'AzureFunction'
  properties: {
    resourceId: '${functionAppResourceId}/functions/${eventGridFunctionName}'
    maxEventsPerBatch: 1
    preferredBatchSizeInKilobytes: 64
  }
}

// ================ //
// Resources        //
// ================ //

// https://learn.microsoft.com/azure/templates/microsoft.apimanagement/service
resource apim 'Microsoft.ApiManagement/service@2024-05-01' existing = {
  name: apimServiceName
}

// https://learn.microsoft.com/azure/templates/microsoft.apimanagement/service/backends
// 2025-03-01-preview: the newest api version of the backend schema; failureResponse on the breaker rule exists
// from 2024-10-01-preview, acceptRetryAfter from 2023-09-01-preview.
resource aoaiBackends 'Microsoft.ApiManagement/service/backends@2025-03-01-preview' = [
  for backend in backends: {
    parent: apim
    name: backend.name
    properties: {
      type: 'Single'
      protocol: 'http'
      url: backend.url
      description: 'Azure OpenAI endpoint, deployed by breakerpanel.'
      circuitBreaker: {
        rules: [
          circuitBreakerRule
        ]
      }
    }
  }
]

// https://learn.microsoft.com/azure/templates/microsoft.apimanagement/service/backends
resource pool 'Microsoft.ApiManagement/service/backends@2025-03-01-preview' = {
  parent: apim
  name: poolName
  // No url or protocol: APIM rejects them on a Pool backend ("Url is not supported for backend pool."). The
  // current backend types no longer mark them required, so no BCP035 suppression is needed.
  properties: {
    type: 'Pool'
    description: 'Azure OpenAI pool: lower priority wins, weight splits traffic within a priority. Deployed by breakerpanel.'
    pool: {
      services: [
        for backend in backends: {
          id: '/backends/${backend.name}'
          priority: backend.priority
          weight: backend.weight
        }
      ]
    }
  }
  // Members must exist before the pool refers to them ("Backend Entity 'x' not found.").
  dependsOn: [
    aoaiBackends
  ]
}

// https://learn.microsoft.com/azure/templates/microsoft.apimanagement/service/apis
resource api 'Microsoft.ApiManagement/service/apis@2024-05-01' = {
  parent: apim
  name: apiName
  properties: {
    displayName: 'Azure OpenAI'
    description: 'Azure OpenAI through the breakerpanel pool, authenticated to Azure OpenAI with the APIM managed identity.'
    path: apiPath
    protocols: [
      'https'
    ]
    subscriptionRequired: true
    type: 'http'
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.apimanagement/service/apis/operations
resource apiPostAll 'Microsoft.ApiManagement/service/apis/operations@2024-05-01' = {
  parent: api
  name: 'post-all'
  properties: {
    displayName: 'POST /*'
    method: 'POST'
    urlTemplate: '/*'
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.apimanagement/service/apis/operations
resource apiGetAll 'Microsoft.ApiManagement/service/apis/operations@2024-05-01' = {
  parent: api
  name: 'get-all'
  properties: {
    displayName: 'GET /*'
    method: 'GET'
    urlTemplate: '/*'
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.apimanagement/service/apis/policies
resource apiPolicy 'Microsoft.ApiManagement/service/apis/policies@2024-05-01' = {
  parent: api
  name: 'policy'
  properties: {
    format: 'rawxml'
    value: policyXml
  }
  // set-backend-service names the pool, which APIM checks exists.
  dependsOn: [
    pool
  ]
}

// https://learn.microsoft.com/azure/templates/microsoft.insights/diagnosticsettings
resource gatewayDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!empty(logAnalyticsWorkspaceId)) {
  scope: apim
  name: 'breakerpanel-gateway-logs'
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    // Dedicated = resource-specific table ApiManagementGatewayLogs, which the watchdog's KQL reads.
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'GatewayLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.apimanagement/service/apis/diagnostics
// ApiManagementGatewayLogs.BackendResponseHeaders holds only the headers the API's Azure Monitor diagnostic names
// ("Headers to log ... Default: no headers are logged", diagnostic logs settings reference): without this the
// watchdog never sees the Retry-After that sets an acceptRetryAfter breaker's trip. The backend response's
// Retry-After in both spellings and nothing else: no bodies, no request headers (keys and tokens are never
// logged), no client IP; every request sampled (100%) so the watchdog counts them all; verbosity 'information'
// logs successful as well as failed requests. The logger is the instance's built-in 'azuremonitor' (Azure
// Monitor, routed by the gateway-logs diagnostic setting above), so the diagnostic follows that setting.
resource apiDiagnostics 'Microsoft.ApiManagement/service/apis/diagnostics@2024-05-01' = if (!empty(logAnalyticsWorkspaceId)) {
  parent: api
  name: 'azuremonitor'
  properties: {
    loggerId: resourceId('Microsoft.ApiManagement/service/loggers', apimServiceName, 'azuremonitor')
    sampling: {
      samplingType: 'fixed'
      percentage: 100
    }
    verbosity: 'information'
    logClientIp: false
    frontend: {
      request: {
        headers: []
        body: {
          bytes: 0
        }
      }
      response: {
        headers: []
        body: {
          bytes: 0
        }
      }
    }
    backend: {
      request: {
        headers: []
        body: {
          bytes: 0
        }
      }
      response: {
        headers: [
          'Retry-After'
          'retry-after'
        ]
        body: {
          bytes: 0
        }
      }
    }
  }
  dependsOn: [
    gatewayDiagnostics
  ]
}

// https://learn.microsoft.com/azure/templates/microsoft.eventgrid/systemtopics
resource apimEvents 'Microsoft.EventGrid/systemTopics@2025-02-15' = if (eventsEnabled) {
  name: systemTopicName
  location: location
  properties: {
    source: apim.id
    topicType: 'Microsoft.ApiManagement.Service'
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.eventgrid/systemtopics/eventsubscriptions
resource breakerEvents 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (eventsEnabled) {
  parent: apimEvents
  name: 'breakerpanel-circuit-breaker'
  properties: {
    destination: breakerEventDestination
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.ApiManagement.CircuitBreaker.Opened'
        'Microsoft.ApiManagement.CircuitBreaker.Closed'
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

// ================ //
// Outputs          //
// ================ //

@description('Resource ids of the Single backends, in the order of the backends parameter.')
output backendIds string[] = [for (backend, i) in backends: aoaiBackends[i].id]

@description('Resource id of the Pool backend.')
output poolId string = pool.id

@description('Resource id of the API.')
output apiId string = api.id

@description('Retries the policy makes on 429/503 (pool size minus one, at least one).')
output retryCount int = retryCount

@description('Resource id of the circuit-breaker event subscription; empty when none was asked for.')
output eventSubscriptionId string = eventsEnabled ? breakerEvents.id : ''
