"""What a logged model carries and runs: request validation, the MLflow pyfunc, and the fixes
to MLflow's scoring server.

Ships inside every model (``serving.packaging``) together with ``core`` and ``config``, and
imports nothing else of the package, so loading a model never imports training code.
"""
