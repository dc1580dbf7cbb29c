-- QuRating style, on the quickstart lake: temperature sampling (tau = 2) on a z-normalized
-- criterion, with QuRating's per-domain budgets (each source keeps its share of tokens),
-- 30% of the lake's tokens, reproducible from the selection's seed.
WITH c AS (
    SELECT id, n_tokens, source AS domain,
           zscore(gopher_mean_word_length) / 2.0 + gumbel(id, seed()) AS score
    FROM docs
)
SELECT id, n_tokens, score, domain
FROM top_k_per_domain(c, (SELECT sum(n_tokens) * 3 // 10 FROM docs))
