"""Sentiment analysis of Flipkart product reviews: data, model, training, registry and serving."""

__version__ = "0.1.0"
