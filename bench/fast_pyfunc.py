"""A prototype of a leaner predict path, served only by the benchmark to measure what it buys.

Same fitted pipeline artifact, same request contract and checks (serve._check_field), but no
DataFrame per request, no sklearn Pipeline/ColumnVectorizers dispatch and sklearn's per-call
parameter validation and finiteness checks switched off while scoring. Not the package's code:
see the report for the change it suggests in src/flipkart_sentiment/serve.py.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc


class FastSentimentModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        import joblib
        import scipy.sparse as sp

        from flipkart_sentiment import serve

        serve._harden_scoring_server()
        pipeline = joblib.load(context.artifacts["pipeline"])
        self.blocks = [(v, col) for _, v, col in pipeline.named_steps["features"].transformers_]
        self.classifier = pipeline.named_steps["classifier"]
        self.classes = [str(c) for c in pipeline.classes_]
        self._hstack = sp.hstack
        self._serve = serve

    def predict(self, context, model_input: list[Any], params=None) -> list[dict[str, Any]]:
        import sklearn
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        serve = self._serve
        if isinstance(model_input, (str, dict)):
            model_input = [model_input]
        if not isinstance(model_input, (list, tuple)):  # DataFrame etc.: the package's path
            try:
                frame = serve.to_frame(model_input)
            except serve.InvalidReviews as exc:
                raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None
            texts, titles = frame["text"].tolist(), frame["title"].tolist()
        else:
            if not model_input:
                raise MlflowException("the request has no reviews",
                                      error_code=INVALID_PARAMETER_VALUE)
            texts, titles, problems = [], [], []
            for i, item in enumerate(model_input):
                text, title = (item.get("text"), item.get("title")) if isinstance(item, dict) \
                    else (item, None)
                text, p1 = serve._check_field(text, "text", i, required=True)
                title, p2 = serve._check_field(title, "title", i, required=False)
                problems += [p for p in (p1, p2) if p]
                texts.append(text)
                titles.append(title)
            if problems:
                raise MlflowException("; ".join(problems[:3]), error_code=INVALID_PARAMETER_VALUE)
        columns = {"text": texts, "title": titles}
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            X = self._hstack([v.transform(columns[col]) for v, col in self.blocks], format="csr")
            proba = self.classifier.predict_proba(X)
        return serve.format_predictions(proba, self.classes)
