"""`python -m breakerpanel demo`: the product end to end on the local twin, with nothing to configure.

1. starts the twin (HTTPS on 127.0.0.1) and creates an APIM instance in it through the control API;
2. rolls out examples/rollout-request.json with the app's own orchestration (local Durable runner), while
   the twin throttles ARM (429 + Retry-After) — the rollout waits the asked time and carries on;
3. reads the backends back with the real ApiManagementClient and prints them;
4. rolls out a change that drops a backend from the pool: what-if shows it, the approval gate stops it;
5. rolls out a change whose new backend the resource provider refuses: the failed operation is diagnosed and
   the gateway is put back to its last good state, which is then verified.
"""

from __future__ import annotations

import copy
import json
import os
import ssl
import urllib.request
from pathlib import Path
from typing import Any, TextIO

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "rollout-request.json"


def _control(url: str, ca: Path, method: str, path: str, body: object) -> Any:
    context = ssl.create_default_context(cafile=str(ca))
    request = urllib.request.Request(
        url + path, data=json.dumps(body).encode(), method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        text = response.read()
    return json.loads(text) if text else None


def _backends_table(settings: Any, target: dict[str, str]) -> list[str]:
    from breakerpanel.azure.clients import apim_client

    client = apim_client(settings, target["subscriptionId"])
    rows = []
    for backend in client.backend.list_by_service(target["resourceGroup"], target["apimName"]):
        body = backend.serialize(keep_readonly=True)
        props = body.get("properties", {})
        if props.get("type") == "Pool":
            members = ", ".join(
                f"{s['id'].rsplit('/', 1)[-1]} (p{s.get('priority')}/w{s.get('weight')})"
                for s in props.get("pool", {}).get("services", [])
            )
            rows.append(f"  {body['name']:<20} Pool    {members}")
        else:
            rules = props.get("circuitBreaker", {}).get("rules", [])
            rule = rules[0] if rules else {}
            condition = rule.get("failureCondition", {})
            trip = f"trips after {condition.get('count')} failures in {condition.get('interval')} for " \
                   f"{rule.get('tripDuration')}" if rule else "no breaker"
            rows.append(f"  {body['name']:<20} Single  {props.get('url')}  [{trip}]")
    return rows


def run_demo(out: TextIO, state_dir: Path) -> int:
    import function_app
    from breakerpanel.core.summary import render_summary
    from breakerpanel.progress import ProgressPrinter
    from breakerpanel.rollout_local import allowed_targets, check_request, run_rollout
    from breakerpanel.settings import load_settings
    from twin.server import TwinServer

    request = json.loads(EXAMPLE.read_text())
    target = request["targets"][0]
    with TwinServer(state_dir) as server:
        os.environ.update(server.environment())
        # The demo's allowlist: the one APIM instance the example request names.
        os.environ["BREAKERPANEL_TARGETS"] = json.dumps(
            [{k: target[k] for k in ("subscriptionId", "resourceGroup", "apimName")}])
        print(f"twin: {server.url} (CA {server.ca_path})", file=out)
        _control(server.url, server.ca_path, "POST", "/_twin/apim/services",
                 {"subscriptionId": target["subscriptionId"], "resourceGroup": target["resourceGroup"],
                  "name": target["apimName"], "sku": "Developer"})
        # ARM throttles now and then; the rollout must wait what Retry-After asks, on a durable timer.
        _control(server.url, server.ca_path, "POST", "/_twin/faults",
                 {"route": "arm.deployments.get", "kind": "throttle", "retryAfter": 7, "count": 2})
        settings = load_settings()

        print(f"\n== 1. roll out {EXAMPLE.name} to {target['apimName']}", file=out)
        allowed = allowed_targets(request)
        check = check_request(request, allowed)
        for problem in check.problems:
            print(f"   {problem.severity}: {problem.field}: {problem.problem}", file=out)
        first = run_rollout(function_app.app, check, allowed, approve=False, settings=settings,
                            on_step=ProgressPrinter(out), started_by="demo")
        print("", *render_summary(first.output), sep="\n", file=out)
        throttled = [r for r in server.twin.captured("arm.deployments.get") if r["status"] == 429]
        print(f"\n(the twin throttled {len(throttled)} ARM reads with Retry-After: 7; the rollout waited and went on)",
              file=out)

        print("\n== 2. what APIM now holds (read back with ApiManagementClient)", file=out)
        print(*_backends_table(settings, target), sep="\n", file=out)

        print("\n== 3. a change that drops aoai-westus from the pool, approval 'onDestructive', nobody approves",
              file=out)
        shrunk = copy.deepcopy(request)
        shrunk["backends"] = [b for b in shrunk["backends"] if b["name"] != "aoai-westus"]
        check = check_request(shrunk, allowed)
        second = run_rollout(function_app.app, check, allowed, approve=False, settings=settings,
                             on_step=ProgressPrinter(out), started_by="demo")
        print("", *render_summary(second.output), sep="\n", file=out)

        print("\n== 4. a change that tightens the rule to 5 failures and adds aoai-francecentral, which the"
              "\n      resource provider refuses (injected in the twin): diagnosis, then rollback to step 1's state",
              file=out)
        _control(server.url, server.ca_path, "POST", "/_twin/arm/failures",
                 {"resource": "*/backends/aoai-francecentral", "status": 500, "code": "InternalServerError",
                  "message": "The request failed due to an internal error."})
        grown = copy.deepcopy(request)
        grown["breakerRule"]["failureCount"] = 5
        grown["backends"].append({"name": "aoai-francecentral", "priority": 2, "weight": 100,
                                  "url": "https://aoai-francecentral.openai.azure.com/openai"})
        check = check_request(grown, allowed)
        third = run_rollout(function_app.app, check, allowed, approve=True, settings=settings,
                            on_step=ProgressPrinter(out), started_by="demo")
        print("", *render_summary(third.output), sep="\n", file=out)
        print("\n   APIM after the rollback:", file=out)
        print(*_backends_table(settings, target), sep="\n", file=out)
    rolled_back = next(iter(third.output.get("targets", {}).values()), {}).get("result", {}).get("rollback", {})
    ok = (
        first.succeeded
        and second.output.get("status") == "rejected"
        and third.output.get("status") == "failed"
        and rolled_back.get("provisioningState") == "Succeeded"
        and not rolled_back.get("verify", {}).get("differences")
    )
    print(f"\ndemo {'finished as expected' if ok else 'did NOT go as expected'}", file=out)
    return 0 if ok else 1
