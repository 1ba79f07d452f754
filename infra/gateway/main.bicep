metadata name = 'breakerpanel gateway'
metadata description = 'Azure OpenAI behind an existing API Management instance: one circuit-broken backend per endpoint, a priority/weight pool over them, the API with its retry policy, gateway logs to Log Analytics and circuit-breaker events to Event Grid.'

targetScope = 'resourceGroup'

// ================ //
// Parameters       //
// ================ //

@description('Required. Name of the existing API Management instance. Backend pools need a classic or v2 Developer, Basic, Standard or Premium tier (not Consumption).')
param apimServiceName string

@description('Required. The Azure OpenAI endpoints. Each becomes one Single backend with the circuit breaker rule, and one member of the pool.')
@minLength(1)
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

var circuitBreakerRule = {
  name: breakerRule.name
  failureCondition: {
    count: breakerRule.?failureCount
    percentage: breakerRule.?failurePercentage
    interval: breakerRule.interval
    statusCodeRanges: breakerRule.statusCodeRanges
    errorReasons: breakerRule.errorReasons
  }
  tripDuration: breakerRule.tripDuration
  acceptRetryAfter: breakerRule.acceptRetryAfter
  failureResponse: breakerRule.?failureResponseStatusCode == null ? null : { statusCode: breakerRule.?failureResponseStatusCode }
}

var eventsEnabled = !empty(functionAppResourceId) || !empty(eventGridEndpointUrl)

// An Azure Function destination needs no key; the webhook form is for receivers outside a function app.
var breakerEventDestination = empty(functionAppResourceId)
  ? {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: eventGridEndpointUrl
      }
    }
  : {
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
// 2025-03-01-preview: the first api version with failureResponse on the breaker rule.
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
  // A Pool backend has no url or protocol (APIM rejects them: "Url is not supported for backend pool."),
  // but the backend type marks them required, so Bicep reports BCP035 here; it is a false positive.
  #disable-next-line BCP035
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

// ================ //
// Definitions      //
// ================ //

@description('An Azure OpenAI endpoint: one Single backend and one member of the pool.')
type backendType = {
  @description('Required. APIM backend id: 1-80 letters, digits or hyphens, starting with a letter.')
  @minLength(1)
  @maxLength(80)
  name: string

  @description('Required. Runtime URL of the endpoint, e.g. https://aoai-eastus.openai.azure.com/openai.')
  @minLength(1)
  @maxLength(2000)
  url: string

  @description('Required. Pool priority: the lowest number that has an available member gets the traffic.')
  @minValue(0)
  @maxValue(100)
  priority: int

  @description('Required. Pool weight: the share of traffic among members of the same priority.')
  @minValue(0)
  @maxValue(100)
  weight: int
}

@description('A status code range that counts as a failure.')
type statusCodeRangeType = {
  @description('Required. Lowest status code of the range.')
  @minValue(200)
  @maxValue(599)
  min: int

  @description('Required. Highest status code of the range.')
  @minValue(200)
  @maxValue(599)
  max: int
}

@description('The circuit breaker rule, in the rollout request\'s shape. Set exactly one of failureCount and failurePercentage.')
type breakerRuleType = {
  @description('Required. Rule name; the name Event Grid reports in circuitBreaker.rules.')
  name: string

  @description('Optional. Failures within the interval that open the breaker.')
  failureCount: int?

  @description('Optional. Failure percentage within the interval that opens the breaker.')
  failurePercentage: int?

  @description('Required. ISO 8601 window in which failures are counted, e.g. PT1M.')
  interval: string

  @description('Required. Status code ranges that count as failures, e.g. 429 and 500-599.')
  @maxLength(10)
  statusCodeRanges: statusCodeRangeType[]

  @description('Required. Error reasons that count as failures (may be empty).')
  @maxLength(10)
  errorReasons: string[]

  @description('Required. ISO 8601 time the breaker stays open, e.g. PT1M.')
  tripDuration: string

  @description('Required. Whether a Retry-After header from the backend sets the trip duration.')
  acceptRetryAfter: bool

  @description('Optional. Status code the gateway returns while the breaker is open (100-599); null keeps the default 503.')
  failureResponseStatusCode: int?
}
