-- Per-domain budgets. `rel` needs `id`, `score`, `n_tokens` and `domain`; needs budget.sql.

-- top_k_per_domain(rel, budget) -> rel's columns + cum_tokens + domain_budget.
-- QuRating's proportional rule: each domain gets floor(domain_tokens / total_tokens * budget)
-- tokens, and top_k's cut is applied inside each domain.
CREATE OR REPLACE MACRO top_k_per_domain(rel, budget) AS TABLE
    SELECT * EXCLUDE (_total_tokens, _domain_tokens) FROM (
        SELECT *,
            floor(_domain_tokens / _total_tokens * _at_least_zero(budget, 'top_k_per_domain: the token budget'))::BIGINT
                AS domain_budget,
            sum(n_tokens) OVER (PARTITION BY domain ORDER BY score DESC, id ROWS UNBOUNDED PRECEDING) AS cum_tokens
        FROM (
            SELECT *, sum(n_tokens) OVER () AS _total_tokens, sum(n_tokens) OVER (PARTITION BY domain) AS _domain_tokens
            FROM query_table(rel)
        )
    ) WHERE cum_tokens - n_tokens < domain_budget;

-- top_k_quota(rel, quotas) -> rel's columns + cum_tokens + domain_budget.
-- Explicit quotas: `quotas` is a relation (domain, tokens); domains without a quota get none.
CREATE OR REPLACE MACRO top_k_quota(rel, quotas) AS TABLE
    SELECT * FROM (
        SELECT r.*, _at_least_zero(q.tokens, 'top_k_quota: a quota of tokens') AS domain_budget,
            sum(r.n_tokens) OVER (PARTITION BY r.domain ORDER BY r.score DESC, r.id ROWS UNBOUNDED PRECEDING) AS cum_tokens
        FROM query_table(rel) AS r JOIN query_table(quotas) AS q ON r.domain = q.domain
    ) WHERE cum_tokens - n_tokens < domain_budget;
