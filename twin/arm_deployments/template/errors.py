"""The one exception the evaluator raises, carrying the code and message ARM answers with.

Codes: "InvalidTemplate" is what ARM returns (HTTP 400) for every template-language and parameter
problem found while it validates or evaluates a template; the twin uses it for all of them.
"InvalidTemplateDeployment" is ARM's code for preflight (resource provider) failures, which belong to
the deployment runner, not to this evaluator.
"""

from __future__ import annotations

HELP_EXPRESSIONS = "Please see https://aka.ms/arm-template-expressions for usage details."
HELP_RESOURCES = "Please see https://aka.ms/arm-syntax-resources for usage details."
HELP_PARAMETERS = "Please see https://aka.ms/arm-pass-parameter-values for usage details."
HELP_FUNCTIONS = "Please see https://aka.ms/arm-functions for usage details."


class TemplateError(Exception):
    """A template ARM would refuse: `code` and `message` as ARM gives them, `target` the template path."""

    def __init__(self, code: str, message: str, target: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.target = target


class ExpressionError(Exception):
    """An error inside one language expression; the evaluator wraps it with where it happened."""

    def __init__(self, message: str, *, unsupported: bool = False) -> None:
        super().__init__(message)
        self.message = message
        # a function the twin does not implement: the message names it and says so, never a silent skip
        self.unsupported = unsupported


def validation_failed(detail: str, target: str | None = None) -> TemplateError:
    """ARM's wrapper for everything found while validating: "Deployment template validation failed: '…'."."""
    return TemplateError("InvalidTemplate", f"Deployment template validation failed: '{detail}'.", target)
