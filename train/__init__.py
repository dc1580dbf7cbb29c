"""winnow.train: torchtitan training on materialized selections.

Arrives with the training issue (see README, roadmap).
"""
