"""The twin's pure ARM template evaluator: no I/O, no azure imports.

`evaluate_template(template, parameters, subscription_id=, resource_group=, deployment_name=, location=)`
returns the resources a deployment would create, dependencies first, with every expression evaluated.
"""

from .errors import TemplateError
from .model import EvaluatedResource, EvaluatedTemplate
from .template import evaluate_template

__all__ = ["EvaluatedResource", "EvaluatedTemplate", "TemplateError", "evaluate_template"]
