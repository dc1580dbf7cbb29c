-- Temperature sampling without replacement, p ∝ exp(score / tau), reproducible from a seed.
-- Gumbel-top-k: order by score / tau + gumbel(id, seed) and cut like top_k. For more than
-- one row, inclusion probabilities are those of sequential sampling without replacement
-- (draw one row with p ∝ exp(score / tau), remove it, repeat), not k * softmax.
-- `rel` needs `id`, `score` and, for token budgets, `n_tokens`; needs random.sql, budget.sql.

-- sample_tokens(rel, tau, budget, seed) -> rel's columns + key + cum_tokens.
CREATE OR REPLACE MACRO sample_tokens(rel, tau, budget, seed) AS TABLE
    WITH keyed AS (
        SELECT *, key AS _key FROM (SELECT *, score / tau + gumbel(id, seed) AS key FROM query_table(rel)))
    SELECT * FROM _budget_cut(keyed, budget);

-- sample_docs(rel, tau, k, seed) -> rel's columns + key + rank: k rows.
CREATE OR REPLACE MACRO sample_docs(rel, tau, k, seed) AS TABLE
    SELECT * FROM (
        SELECT *, row_number() OVER (ORDER BY key DESC, id) AS rank
        FROM (SELECT *, score / tau + gumbel(id, seed) AS key FROM query_table(rel))
    ) WHERE rank <= k;
