"""winnow.scoring: jobs that add one column per metric to the lake's `docs` table.

The scorer contract and the runner arrive with the scoring issue (see README, roadmap).
"""
