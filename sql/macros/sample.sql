-- Temperature sampling without replacement, p ∝ exp(score / tau), reproducible from a seed.
-- Gumbel-top-k: order by score / tau + gumbel(id, seed) and cut like top_k. For more than
-- one row, inclusion probabilities are those of sequential sampling without replacement
-- (draw one row with p ∝ exp(score / tau), remove it, repeat), not k * softmax.
-- `rel` needs `id`, `score` and, for token budgets, `n_tokens`; needs random.sql, budget.sql.
-- tau must be > 0: at 0 the keys are infinite or NaN, and below 0 the order is reversed
-- (the lowest scores first), so either is refused with an error, as is a negative budget or k.

-- _temperature(tau, what) -> tau, or an error naming `what` unless tau > 0.
CREATE OR REPLACE MACRO _temperature(tau, what) AS
    CASE WHEN tau > 0 THEN tau
         ELSE error(what || ': the temperature tau must be > 0 (large: near uniform, small: near top-k), got '
                    || coalesce(tau::VARCHAR, 'NULL')) END;

-- sample_tokens(rel, tau, budget, seed) -> rel's columns + key + cum_tokens.
CREATE OR REPLACE MACRO sample_tokens(rel, tau, budget, seed) AS TABLE
    WITH keyed AS (
        SELECT *, key AS _key FROM (
            SELECT *, score / _temperature(tau, 'sample_tokens') + gumbel(id, seed) AS key FROM query_table(rel)))
    SELECT * FROM _budget_cut(keyed, _at_least_zero(budget, 'sample_tokens: the token budget'));

-- sample_docs(rel, tau, k, seed) -> rel's columns + key + rank: k rows.
CREATE OR REPLACE MACRO sample_docs(rel, tau, k, seed) AS TABLE
    SELECT * FROM (
        SELECT *, row_number() OVER (ORDER BY key DESC, id) AS rank
        FROM (SELECT *, score / _temperature(tau, 'sample_docs') + gumbel(id, seed) AS key FROM query_table(rel))
    ) WHERE rank <= _at_least_zero(k, 'sample_docs: k');
