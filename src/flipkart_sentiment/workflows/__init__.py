"""The jobs people and flows run: training (load → … → promote → rollout), the search it runs,
its summary, and the model-quality report with its behavioural (CheckList) suite.
"""
