"""What a target must already have before its gateway can be deployed — judged from management-API reads.

A template cannot fix these, and ARM reports most of them only when the deployment fails (or, for the missing
OpenAI role, never: the gateway then answers 401 at run time). So the rollout reads them before validate and
turns each into a finding with its fix:

- tier: backend pools and circuit breakers are not available in the Consumption tier (Microsoft's "Backends in
  API Management" notes, azure-docs commit f73cccd);
- identity: the policy's `authentication-managed-identity` names no client id, so it uses the instance's
  *system-assigned* identity — a user-assigned one alone is not enough;
- openaiRole: that identity needs an Entra-authorized inference role (Cognitive Services OpenAI User, or a role
  that includes its data actions) on each Azure OpenAI account behind the backends — only a warning when it is
  missing or unreadable, since the account may live in another subscription the app cannot list;
- providers: Microsoft.Insights (the gateway-logs diagnostic setting) and Microsoft.EventGrid (the breaker-event
  system topic) registered in the subscription, each only when the parameters deploy it; the app's identity
  holds no `register/action`;
- systemTopic: Event Grid allows one system topic per source; an existing one is reused by name, and the topic
  is deployed in the instance's own location (the template's default is the resource group's);
- diagnosticSetting: Azure Monitor refuses a second diagnostic setting that sends the same category of the same
  resource to the same workspace ("Data sink … is already used in diagnostic setting …").

Every read arrives as an activity outcome (`{"outcome": "ok", ...}` or a classified failure); a read that failed
becomes "could not check", a warning naming what the identity lacks — never a block on a guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from breakerpanel.core import grants

# The gateway template's own names: its diagnostic setting, and its system topic's default name.
OWN_DIAGNOSTIC_SETTING = "breakerpanel-gateway-logs"
GATEWAY_LOG_CATEGORY = "GatewayLogs"
# Categories and groups a diagnostic setting can name that also carry the gateway template's log and metrics.
_SAME_LOGS = frozenset({"gatewaylogs", "alllogs"})
_SAME_METRICS = frozenset({"allmetrics"})
# The tiers where Pool backends and circuit breakers exist (classic and v2); Consumption has neither.
POOL_TIERS = frozenset({"developer", "basic", "standard", "premium", "basicv2", "standardv2", "premiumv2"})
# Built-in roles whose data actions include Azure OpenAI inference with an Entra token (ids are the same in
# every tenant): Cognitive Services OpenAI User, OpenAI Contributor, Cognitive Services User.
INFERENCE_ROLES = {
    "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd": "Cognitive Services OpenAI User",
    "a001fd3d-188f-4b5d-821b-7da978bf7442": "Cognitive Services OpenAI Contributor",
    "a97b65f3-24c7-4388-baec-2e87135dc908": "Cognitive Services User",
}
OPENAI_USER_ROLE_ID = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"
# What each read needs, named in a could-not-check finding.
READ_ACTIONS = {
    "service": "Microsoft.ApiManagement/service/read",
    "providers": "Microsoft.Resources/subscriptions/providers/read",
    "systemTopics": "Microsoft.EventGrid/systemTopics/read",
    "diagnosticSettings": "Microsoft.Insights/diagnosticSettings/read",
    "roleAssignments": "Microsoft.Authorization/roleAssignments/read",
}
STATUSES = ("passed", "blocking", "warning", "couldNotCheck")


@dataclass(frozen=True)
class Finding:
    check: str
    status: str  # one of STATUSES; only "blocking" stops the target
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        found = {"check": self.check, "status": self.status, "detail": self.detail}
        if self.fix:
            found["fix"] = self.fix
        return found


@dataclass(frozen=True)
class Needs:
    """Which reads a target's parameters call for."""

    providers: tuple[str, ...]
    system_topic: str | None  # the name the template would create, when it deploys the event subscription
    workspace_id: str | None  # the gateway logs' destination, when set


def _values(parameters: Mapping[str, Any]) -> dict[str, Any]:
    return {name: entry.get("value") if isinstance(entry, Mapping) else None for name, entry in parameters.items()}


def needs(parameters: Mapping[str, Any]) -> Needs:
    """The reads the gateway parameters (`{"name": {"value": v}}`) call for."""
    values = _values(parameters)
    events = bool(values.get("functionAppResourceId") or values.get("eventGridEndpointUrl"))
    workspace = str(values.get("logAnalyticsWorkspaceId") or "") or None
    providers = tuple(ns for ns, wanted in (("Microsoft.Insights", workspace is not None),
                                             ("Microsoft.EventGrid", events)) if wanted)
    topic = str(values.get("systemTopicName") or f"{values.get('apimServiceName')}-events") if events else None
    return Needs(providers, topic, workspace)


def account_name(backend_url: str) -> str | None:
    """The Azure OpenAI / AI Services account a backend URL points at: its custom subdomain (first label)."""
    host = urlsplit(backend_url).hostname or ""
    return host.split(".", 1)[0].lower() if "." in host else None


def _read_fix(read: str, scope: str) -> str:
    """What to grant so a refused read is made next time: the infra/app role that carries it, or — for the one
    read infra/app leaves out on purpose — the smallest grant that allows it."""
    action = READ_ACTIONS[read]
    if read == "roleAssignments":
        # infra/app gives the app no Microsoft.Authorization action; the check is the operator's choice. The list
        # is made in the target's subscription ($filter=principalId: assignments at, above or below it), so the
        # grant goes there and covers the Azure OpenAI accounts in that subscription.
        return (f"infra/app grants no authorization actions on purpose; to have this checked, grant the app's "
                f"identity a role holding {action} — Reader, or a custom role with that one action — on {scope}, "
                "the subscription holding the Azure OpenAI accounts (accounts in another subscription are not seen: "
                "check their Cognitive Services OpenAI User assignment yourself); or check it yourself before the "
                "rollout")
    grant = grants.grant_for(action)
    if grant is None:
        return f"grant the app's identity {action} on {scope} to have this checked, or check it before the rollout"
    return (f"the app's managed identity may not perform '{action}': grant it '{grant.role}' on {grant.scope} "
            f"({scope}; {grant.module}, which deploying infra/app with this target in `targets` creates) to have "
            "this checked, or check it yourself before the rollout")


def _could_not_check(check: str, read: str, outcome: Mapping[str, Any], scope: str) -> Finding:
    """A read that failed, as a warning that says why — never a block."""
    error = outcome.get("error") or {}
    code = str(error.get("code") or "")
    status = outcome.get("status")
    if status == 403 or code in ("AuthorizationFailed", "LinkedAuthorizationFailed"):
        return Finding(check, "couldNotCheck", f"could not check: the identity lacks {READ_ACTIONS[read]} on {scope}",
                       _read_fix(read, scope))
    if outcome.get("outcome") == "transient":
        return Finding(check, "couldNotCheck", f"could not check: Azure did not answer ({code or 'no answer'})",
                       "it is checked again on the next rollout")
    message = str(error.get("message") or "")[:300]
    return Finding(check, "couldNotCheck", f"could not check: {code or 'error'}: {message}".rstrip(": "),
                   str(outcome.get("fix") or ""))


def service_findings(target: Mapping[str, Any], service: Mapping[str, Any]) -> list[Finding]:
    """Tier and managed identity, from the instance's GET (ApiManagementService_Get)."""
    name = str(target.get("apimName"))
    scope = (f"/subscriptions/{target.get('subscriptionId')}/resourceGroups/{target.get('resourceGroup')}"
             f"/providers/Microsoft.ApiManagement/service/{name}")
    if service.get("outcome") != "ok":
        if service.get("status") == 404:
            return [Finding("service", "blocking", f"the API Management instance '{name}' does not exist in "
                            f"resource group '{target.get('resourceGroup')}'",
                            "fix the target in BREAKERPANEL_TARGETS, or create the instance first")]
        return [_could_not_check("tier", "service", service, scope),
                _could_not_check("identity", "service", service, scope)]
    body = service.get("service") or {}
    tier = str((body.get("sku") or {}).get("name") or "")
    findings = []
    if tier.lower() == "consumption":
        findings.append(Finding("tier", "blocking", f"'{name}' is in the Consumption tier, which has no backend "
                                "pools or circuit breakers",
                                "move the instance to a Developer, Basic, Standard or Premium tier (classic or v2), "
                                "or roll out to another instance"))
    elif tier.lower() in POOL_TIERS:
        findings.append(Finding("tier", "passed", f"'{name}' is in the {tier} tier, which has pools and breakers"))
    else:
        findings.append(Finding("tier", "warning", f"'{name}' is in the tier '{tier or '(none given)'}', not one "
                                "known to have backend pools", "validate will say whether APIM accepts the pool"))
    identity = body.get("identity") or {}
    kinds = {part.strip().lower() for part in str(identity.get("type") or "None").split(",")}
    if "systemassigned" in kinds and identity.get("principalId"):
        findings.append(Finding("identity", "passed", f"'{name}' has a system-assigned managed identity "
                                f"({identity['principalId']})"))
    else:
        has = "only a user-assigned managed identity" if "userassigned" in kinds else "no managed identity"
        findings.append(Finding("identity", "blocking", f"'{name}' has {has}; the API's policy "
                                "(authentication-managed-identity, no client-id) signs in to Azure OpenAI with the "
                                "system-assigned one",
                                f"az apim update -g {target.get('resourceGroup')} -n {name} "
                                "--enable-managed-identity true, then grant it Cognitive Services OpenAI User on "
                                "each Azure OpenAI account"))
    return findings


def _covers(assignment: Mapping[str, Any], subscription_id: str, account: str) -> str | None:
    """How an assignment covers `account`: "yes", "maybe" (a resource group: the account may be in it) or None."""
    role = str(assignment.get("roleDefinitionId") or "").rstrip("/").rsplit("/", 1)[-1].lower()
    if role not in INFERENCE_ROLES:
        return None
    scope = str(assignment.get("scope") or "").rstrip("/").lower()
    if scope in ("", "/") or scope == f"/subscriptions/{subscription_id.lower()}":
        return "yes"
    if scope.endswith(f"/providers/microsoft.cognitiveservices/accounts/{account}"):
        return "yes"
    parts = scope.split("/")
    if len(parts) == 5 and parts[3] == "resourcegroups":
        return "maybe"
    return None


def role_findings(target: Mapping[str, Any], backends: Sequence[Mapping[str, Any]], principal_id: str | None,
                  assignments: Mapping[str, Any] | None) -> list[Finding]:
    """Cognitive Services OpenAI User (or a role with its data actions) for APIM's identity on each account."""
    if not principal_id or assignments is None:
        return []
    subscription = str(target.get("subscriptionId"))
    if assignments.get("outcome") != "ok":
        return [_could_not_check("openaiRole", "roleAssignments", assignments, f"/subscriptions/{subscription}")]
    listed = [a for a in assignments.get("assignments") or [] if isinstance(a, Mapping)
              and str(a.get("principalId") or principal_id).lower() == principal_id.lower()]
    findings = []
    for account in sorted({name for b in backends if (name := account_name(str(b.get("url") or "")))}):
        verdicts = [(v, a) for a in listed if (v := _covers(a, subscription, account))]
        grant = (f"az role assignment create --assignee-object-id {principal_id} --assignee-principal-type "
                 f"ServicePrincipal --role 'Cognitive Services OpenAI User' --scope <resource id of {account}>")
        if any(v == "yes" for v, _ in verdicts):
            findings.append(Finding("openaiRole", "passed", f"APIM's identity holds an inference role on '{account}'"))
        elif verdicts:
            groups = ", ".join(sorted({str(a.get("scope")).rsplit("/", 1)[-1] for _, a in verdicts}))
            findings.append(Finding("openaiRole", "warning", f"APIM's identity holds an inference role on resource "
                                    f"group(s) {groups}: it covers '{account}' only if the account is there", grant))
        else:
            findings.append(Finding("openaiRole", "warning", f"no assignment in subscription {subscription} gives "
                                    f"APIM's identity an inference role on '{account}': the gateway would get 401 "
                                    "from it (unless the account is in another subscription and granted there)",
                                    grant))
    return findings


def provider_findings(subscription_id: str, providers: Mapping[str, Mapping[str, Any]]) -> list[Finding]:
    findings = []
    for namespace, outcome in sorted(providers.items()):
        if outcome.get("outcome") != "ok":
            findings.append(_could_not_check("provider", "providers", outcome,
                                             f"/subscriptions/{subscription_id}"))
            continue
        state = str(outcome.get("registrationState") or "")
        if state.lower() == "registered":
            findings.append(Finding("provider", "passed", f"{namespace} is registered in {subscription_id}"))
            continue
        findings.append(Finding("provider", "blocking", f"{namespace} is {state or 'not registered'} in subscription "
                                f"{subscription_id}, and the app's identity cannot register it",
                                f"az provider register --namespace {namespace} --subscription {subscription_id} "
                                "(as someone holding Microsoft.Resources/subscriptions/providers/register/action, "
                                "e.g. Contributor), then start the rollout again"))
    return findings


def system_topic_findings(apim_id: str, planned: str, topics: Mapping[str, Any]) -> tuple[list[Finding], str | None]:
    """The finding, and the name of the instance's existing system topic to reuse (None: create `planned`)."""
    group = apim_id.split("/providers/", 1)[0]
    if topics.get("outcome") != "ok":
        return [_could_not_check("systemTopic", "systemTopics", topics, group)], None
    mine = [t for t in topics.get("topics") or [] if isinstance(t, Mapping)
            and str(t.get("source") or "").lower() == apim_id.lower()]
    if not mine:
        return [Finding("systemTopic", "passed", f"the instance has no Event Grid system topic yet: '{planned}' "
                        "is created")], None
    name = str(mine[0].get("name"))
    if name.lower() == planned.lower():
        return [Finding("systemTopic", "passed", f"the instance's system topic '{name}' is the one the template "
                        "deploys")], None
    return [Finding("systemTopic", "passed", f"the instance already has the system topic '{name}' (Event Grid "
                    "allows one per source): it is reused (systemTopicName)")], name


def diagnostic_findings(apim_id: str, workspace_id: str, settings: Mapping[str, Any]) -> list[Finding]:
    """A setting other than the template's own that already sends the gateway logs or metrics to the workspace."""
    if settings.get("outcome") != "ok":
        return [_could_not_check("diagnosticSetting", "diagnosticSettings", settings, apim_id)]
    clashes = []
    for setting in settings.get("settings") or []:
        if not isinstance(setting, Mapping) or str(setting.get("name") or "").lower() == OWN_DIAGNOSTIC_SETTING:
            continue
        properties = setting.get("properties") or {}
        if str(properties.get("workspaceId") or "").lower() != workspace_id.lower():
            continue
        logs = {str(item.get("category") or item.get("categoryGroup") or "").lower()
                for item in properties.get("logs") or [] if isinstance(item, Mapping) and item.get("enabled")}
        metrics = {str(item.get("category") or "").lower()
                   for item in properties.get("metrics") or [] if isinstance(item, Mapping) and item.get("enabled")}
        if logs & _SAME_LOGS or metrics & _SAME_METRICS:
            clashes.append(str(setting.get("name")))
    if not clashes:
        return [Finding("diagnosticSetting", "passed", "no other diagnostic setting sends the gateway logs to the "
                        "target workspace")]
    names = ", ".join(f"'{n}'" for n in clashes)
    return [Finding("diagnosticSetting", "blocking", f"the instance's diagnostic setting {names} already sends "
                    "GatewayLogs or AllMetrics to the target workspace; Azure Monitor refuses a second one "
                    "(\"Data sink … is already used\")",
                    f"delete {names} (the gateway template's '{OWN_DIAGNOSTIC_SETTING}' sends the same logs), or "
                    "remove the workspace from this target's logAnalyticsWorkspaceId and keep yours — the watchdog "
                    "reads ApiManagementGatewayLogs either way if it is resource-specific (Dedicated)")]


def blocking(findings: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [f for f in findings if f.get("status") == "blocking"]


def summary_line(finding: Mapping[str, Any]) -> str:
    fix = f" — fix: {finding['fix']}" if finding.get("fix") else ""
    return f"{finding.get('check')}: {finding.get('detail')}{fix}"


def assess(call: Mapping[str, Any], reads: Mapping[str, Any]) -> dict[str, Any]:
    """Every finding for one target from the reads the activity made, and the parameters the rollout should
    send instead (an existing system topic's name). `reads`: {"service", "roleAssignments"?, "providers"?:
    {namespace: outcome}, "systemTopics"?, "diagnosticSettings"?}, each an activity outcome."""
    target = call.get("target") or {}
    parameters = call.get("parameters") or {}
    wanted = needs(parameters)
    apim_id = (f"/subscriptions/{target.get('subscriptionId')}/resourceGroups/{target.get('resourceGroup')}"
               f"/providers/Microsoft.ApiManagement/service/{target.get('apimName')}")
    service = reads.get("service") or {"outcome": "permanent", "error": {"code": "NotRead"}}
    findings = service_findings(target, service)
    identity = ((service.get("service") or {}).get("identity") or {}) if service.get("outcome") == "ok" else {}
    backends = (parameters.get("backends") or {}).get("value") or []
    findings += role_findings(target, backends, identity.get("principalId"), reads.get("roleAssignments"))
    findings += provider_findings(str(target.get("subscriptionId")), reads.get("providers") or {})
    overrides: dict[str, Any] = {}
    if wanted.system_topic is not None and reads.get("systemTopics") is not None:
        topic_findings, reuse = system_topic_findings(apim_id, wanted.system_topic, reads["systemTopics"])
        findings += topic_findings
        if reuse is not None:
            overrides["systemTopicName"] = reuse
        # A system topic lives in its source's location; the template's default is the group's, which may differ.
        if (service.get("service") or {}).get("location") and service.get("outcome") == "ok":
            overrides["location"] = service["service"]["location"]
    if wanted.workspace_id is not None and reads.get("diagnosticSettings") is not None:
        findings += diagnostic_findings(apim_id, wanted.workspace_id, reads["diagnosticSettings"])
    listed = [f.to_dict() for f in findings]
    return {"findings": listed, "blocking": bool(blocking(listed)), "parameters": overrides}
