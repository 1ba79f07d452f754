"""The Functions app: registers the blueprints, nothing else."""

import azure.durable_functions as df

from activities.alerts import bp as alert_activities
from activities.backends import bp as backend_activities
from activities.decisions import bp as decision_activities
from activities.deployments import bp as deployment_activities
from activities.locks import bp as lock_activities
from activities.prerequisites import bp as prerequisite_activities
from activities.watch import bp as watch_activities
from orchestrators.rollout import bp as rollout_orchestrations
from orchestrators.rollout_http import bp as rollout_http
from orchestrators.rollout_list import bp as rollout_list
from orchestrators.watchdog import bp as watchdog

app = df.DFApp()
for blueprint in (rollout_http, rollout_orchestrations, decision_activities,
                  deployment_activities, backend_activities, lock_activities,
                  prerequisite_activities, watchdog, watch_activities, alert_activities, rollout_list):
    app.register_functions(blueprint)
