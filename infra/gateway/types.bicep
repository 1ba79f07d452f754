// Parameter types of main.bicep, imported there. Kept apart because checkov's Bicep parser (pycep)
// cannot read decorators on type properties; main.bicep, which holds the resources, stays scannable.

@export()
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

@export()
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

@export()
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
