-- QuRating (princeton-nlp/QuRating, select_subset.py): educational_value, z-normalized,
-- temperature 2, sampled without replacement (Gumbel-top-k), 30B tokens, each domain
-- keeping int(domain_tokens / total_tokens * budget) tokens. Swap `top_k_per_domain` for
-- `top_k` to drop the domain rule, or the score for `zscore(x) / 2.0` to take the top-k.
WITH c AS (
    SELECT id, n_tokens, source AS domain,
           zscore(qurating_educational_value) / 2.0 + gumbel(id, seed()) AS score
    FROM docs
)
SELECT id, n_tokens, score, domain FROM top_k_per_domain(c, 30e9)
