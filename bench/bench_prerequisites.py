"""What the rollout's prerequisite check adds to each target's preflight, against the twin.

For each of three target shapes (no gateway-logs workspace and no events; a workspace; a workspace and breaker
events wired to this app) it runs the real `arm_prerequisites` activity N times through the real SDK clients
against the local HTTPS twin and prints the management calls it made per target (by route), and the wall time per
check (median, p95, max). Figures are of this machine's loopback twin, not of Azure's latency: in Azure each call
is one ARM round trip (typically tens of milliseconds), so the calls per target are the figure that carries over.

    .venv/bin/python bench/bench_prerequisites.py [N]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SUB = "00000000-0000-0000-0000-0000000000be"
GROUP = "rg-bench"
APIM = "apim-bench"
WORKSPACE = f"/subscriptions/{SUB}/resourceGroups/rg-logs/providers/Microsoft.OperationalInsights/workspaces/logs"
SITE = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Web/sites/func-bench"
REQUEST = {
    "targets": [{"subscriptionId": SUB, "resourceGroup": GROUP, "apimName": APIM}],
    "backends": [{"name": f"aoai-{i}", "url": f"https://aoai-{i}.openai.azure.com/openai", "priority": 1,
                  "weight": 50} for i in range(3)],
    "breakerRule": {"name": "openai-breaker", "failureCount": 3, "interval": "PT1M",
                    "statusCodeRanges": [{"min": 429, "max": 429}], "tripDuration": "PT1M", "acceptRetryAfter": False},
    "poolName": "aoai-pool",
    "approval": "none",
    "rollbackOnFailure": False,
}


def _call(workspace: str, site: str) -> dict[str, Any]:
    from breakerpanel.core.gateway_parameters import gateway_parameters
    from breakerpanel.core.model import Target
    from breakerpanel.core.request import check_rollout_request

    target = Target(SUB, GROUP, APIM)
    check = check_rollout_request(REQUEST, [target])
    assert check.request is not None
    return {"target": {"subscriptionId": SUB, "resourceGroup": GROUP, "apimName": APIM}, "deploymentName": "bench",
            "parameters": gateway_parameters(check.request, target, log_analytics_workspace_id=workspace,
                                             function_app_resource_id=site)}


def main(rounds: int) -> None:
    import function_app
    from twin.server import TwinServer

    scratch = Path(tempfile.mkdtemp())
    with TwinServer(scratch / "twin") as twin_server:
        os.environ.update(twin_server.environment())
        os.environ["BREAKERPANEL_TARGETS"] = json.dumps(
            [{"subscriptionId": SUB, "resourceGroup": GROUP, "apimName": APIM, "logAnalyticsWorkspaceId": WORKSPACE}])
        os.environ["BREAKERPANEL_EVENTS_FUNCTION_ID"] = SITE
        twin = twin_server.twin
        twin.apim.create_service(SUB, GROUP, APIM)
        activity = next(f for f in function_app.app.get_functions()
                        if f.get_function_name() == "arm_prerequisites").get_user_function()
        print(f"prerequisites per target, {rounds} checks each, loopback twin")
        print(f"{'target shape':<28} {'calls':>5}  {'median ms':>9} {'p95 ms':>7} {'max ms':>7}  calls by route")
        for label, workspace, site in (("no logs, no events", "", ""), ("gateway logs", WORKSPACE, ""),
                                       ("gateway logs + events", WORKSPACE, SITE)):
            call = _call(workspace, site)
            activity(call)  # warm: imports, TLS session, first client construction
            twin.clear_captured()
            times = []
            for _ in range(rounds):
                start = time.perf_counter()
                outcome = activity(call)
                times.append((time.perf_counter() - start) * 1000)
                assert outcome["outcome"] == "ok", outcome
            routes = Counter(r["route"] for r in twin.captured())
            per_check = {route: count // rounds for route, count in sorted(routes.items())}
            ordered = sorted(times)
            p95 = ordered[max(int(len(ordered) * 0.95) - 1, 0)]
            print(f"{label:<28} {sum(per_check.values()):>5}  {statistics.median(times):>9.1f} {p95:>7.1f} "
                  f"{max(times):>7.1f}  {', '.join(f'{r} x{n}' for r, n in per_check.items())}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
