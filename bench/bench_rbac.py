"""What the twin's RBAC mode costs per request: the same calls dispatched in-process with the mode off and on.

The twin is driven through `Twin.dispatch` (no sockets, so only the twin's own work is timed), with infra/app's
role assignments for T targets (three per target group, as tests/rbac grants them). For each route it prints the
median microseconds per request off and on, and the difference (a Log Analytics query is timed 20 times less
often: the KQL engine's run dwarfs the check); then the cost of loading the assignments from
the Bicep (pycep parse, cached after the first load). Figures are this machine's.

    .venv/bin/python bench/bench_rbac.py [REQUESTS] [TARGETS]
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SUB = "00000000-0000-0000-0000-0000000000dd"
GROUP = f"/subscriptions/{SUB}/resourceGroups"
TOKEN = "bench-token"
PRINCIPAL = "7e2d4c1b-3a5f-4d6e-8f90-1a2b3c4d5e6f"


def main() -> None:
    from twin.app import Twin
    from twin.http import Request
    from twin.rbac import infra

    requests_per_route = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    target_count = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    targets = [{"subscriptionId": SUB, "resourceGroup": f"rg-{n // 3}", "apimName": f"apim-{n}",
                "logAnalyticsWorkspaceId": f"{GROUP}/rg-logs/providers/Microsoft.OperationalInsights/workspaces/w{n}"}
               for n in range(target_count)]
    app = f"{GROUP}/rg-app/providers"
    started = time.perf_counter()
    assignments = infra.app_assignments(infra.AppInfra(
        PRINCIPAL, targets, f"{app}/Microsoft.OperationalInsights/workspaces/log-app",
        f"{app}/Microsoft.Insights/components/appi", f"{app}/Microsoft.Storage/storageAccounts/st",
        f"{app}/Microsoft.Web/sites/func"))
    first_load = time.perf_counter() - started

    twin = Twin()
    last = targets[-1]
    twin.apim.create_service(SUB, last["resourceGroup"], last["apimName"])
    service = f"{GROUP}/{last['resourceGroup']}/providers/Microsoft.ApiManagement/service/{last['apimName']}"
    routes = {
        "apim.backends.list": ("GET", f"{service}/backends"),
        "arm.deployments.list": ("GET", f"{GROUP}/{last['resourceGroup']}/providers/Microsoft.Resources/deployments"),
        "logs.query.resource": ("POST", f"/v1{last['logAnalyticsWorkspaceId']}/query"),
    }
    body = json.dumps({"query": "ApiManagementGatewayLogs | take 1"}).encode()
    print(f"{len(assignments)} assignments for {target_count} targets; loaded from infra/app's Bicep in "
          f"{first_load * 1000:.0f} ms")
    print(f"{'route':24} {'off µs':>8} {'on µs':>8} {'+µs':>7}   ({requests_per_route} requests each, median)")
    for name, (method, path) in routes.items():
        medians = []
        for enabled in (False, True):
            if enabled:
                twin.rbac.enable({TOKEN: PRINCIPAL}, assignments)
            else:
                twin.rbac.disable()
            samples = []
            # A query costs the KQL engine's tens of milliseconds: fewer of them, and the difference is noise.
            count = requests_per_route if method == "GET" else max(requests_per_route // 20, 10)
            for _ in range(count):
                request = Request.from_raw(method, f"{path}?api-version=2024-05-01",
                                           {"Authorization": f"Bearer {TOKEN}"}, body if method == "POST" else b"",
                                           "https://127.0.0.1")
                tick = time.perf_counter()
                outcome = twin.dispatch(request)
                samples.append(time.perf_counter() - tick)
                assert outcome.response.status == 200, (name, enabled, outcome.response.body)
            twin.clear_captured()
            medians.append(statistics.median(samples) * 1e6)
        print(f"{name:24} {medians[0]:8.1f} {medians[1]:8.1f} {medians[1] - medians[0]:7.1f}")


if __name__ == "__main__":
    main()
