"""The model's code, as MLflow's models-from-code loads it: this file is copied into every
logged model and run when the model loads (``packaging.log_kwargs``)."""

import mlflow

from flipkart_sentiment.serving.pyfunc import SentimentModel

mlflow.models.set_model(SentimentModel())
