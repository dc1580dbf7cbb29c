"""winnow.train.weights: weights of score columns learned from labels (`labels`) or from
proxy runs (`runs`, Meta-rater's method): `winnow weights fit` and `winnow weights sample`.
"""

MODELS = ("quadratic", "gbt")  # the regressions of loss on weights that `weights fit --runs` fits (runs.py)
