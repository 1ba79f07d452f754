"""A local twin of the Azure endpoints breakerpanel calls: ARM deployments, APIM backends, Log Analytics.

Development and test tool: it is never deployed (.funcignore). The real azure-* SDK clients talk HTTPS to it.
"""
