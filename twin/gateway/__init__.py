"""The twin's API Management gateway: traffic scenarios simulated with APIM's documented semantics, turned
into ApiManagementGatewayLogs rows (twin/log_analytics) and Event Grid circuit-breaker events.

Modules: config (backends as APIM stores them), breaker (one backend's circuit breaker), behaviour (what a
backend answers over time), simulation (the policy, the pool, the event loop), rows (one log row per client
request), events (Event Grid / CloudEvents), incidents (the ground truth read off a run), scenarios (the
catalogue), loader (into a Twin), handlers/routes (the control API).

Log conventions, with sources, and the choices where no source says:
- BackendId on a request the pool routed: the member that served the last attempt. *Choice*: the docs define
  BackendId only as "Backend entity identifier for current request" (gateway log schema reference); the member
  is what makes per-backend breaker precursors (429/5xx per BackendId) visible, which is how the DESIGN infers
  breaker state.
- A request the gateway answered without calling a backend (every member's breaker open, or a Single backend's
  breaker open): ResponseCode 503 (backends.md: "returns a 503 Service Unavailable response to the client"),
  or the failureResponse.statusCode configured on the pool (or the rule, for a Single backend);
  BackendResponseCode null, BackendUrl null, BackendTime 0 (no backend I/O); BackendId the pool's name.
  *Choice* for BackendId: no source says what APIM writes there. LastError* are null on these rows: no source
  shows what APIM writes either, and the 503's reason text is not to be matched on (DESIGN).
- A backend that never answers: ResponseCode 500 with BackendResponseCode null and LastErrorSource
  "forward-request", LastErrorSection "backend", LastErrorReason "Timeout" (MicrosoftDocs/azure-docs#109013:
  "500 internal server error due to timeout at forward-request") or "BackendConnectionFailure" with message
  "Underlying transport connection was unexpectedly closed." (Azure/api-management-self-hosted-gateway#230,
  a real record: responseCode 500, no backendResponseCode). The Timeout message text is the twin's wording.
- A backend 429: BackendResponseHeaders and ResponseHeaders carry its "Retry-After"; the 429 goes back to the
  client when the retries are spent.
- One row per client request (retries inside one request are one row); TimeGenerated is the request's arrival.
  The last attempt decides BackendId, BackendUrl, BackendResponseCode and BackendResponseHeaders; BackendTime
  sums every attempt's backend I/O (the schema: "overall backend I/O"). *Choice*: no source shows a retried
  request's record. A consequence a log reader must live with: a 429 the policy retried successfully on
  another member leaves no 429 in the logs — the breaker shows as that member's missing traffic and in the
  Event Grid events.
"""
