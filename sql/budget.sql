-- Top-k under a budget. Every macro here takes a relation `rel` (a table, view or CTE name)
-- with columns `id`, `score` and, for token budgets, `n_tokens`; it returns rel's rows that
-- are selected, plus `cum_tokens` (or `rank`). Ties in score are broken by id.
--
-- QuRating's cut: rows are taken in order until the budget is reached, and the row that
-- reaches it is included: a row is in when the tokens before it are under the budget.

-- top_k(rel, budget) -> rel's columns + cum_tokens: highest scores first, `budget` tokens.
CREATE OR REPLACE MACRO top_k(rel, budget) AS TABLE
    SELECT * FROM (
        SELECT *, sum(n_tokens) OVER (ORDER BY score DESC, id ROWS UNBOUNDED PRECEDING) AS cum_tokens
        FROM query_table(rel)
    ) WHERE cum_tokens - n_tokens < budget;

-- bottom_k(rel, budget) -> rel's columns + cum_tokens: lowest scores first (the inverse).
CREATE OR REPLACE MACRO bottom_k(rel, budget) AS TABLE
    SELECT * FROM (
        SELECT *, sum(n_tokens) OVER (ORDER BY score ASC, id ROWS UNBOUNDED PRECEDING) AS cum_tokens
        FROM query_table(rel)
    ) WHERE cum_tokens - n_tokens < budget;

-- top_k_docs(rel, k) -> rel's columns + rank: the k highest scores.
CREATE OR REPLACE MACRO top_k_docs(rel, k) AS TABLE
    SELECT * FROM (
        SELECT *, row_number() OVER (ORDER BY score DESC, id) AS rank FROM query_table(rel)
    ) WHERE rank <= k;

-- bottom_k_docs(rel, k) -> rel's columns + rank: the k lowest scores.
CREATE OR REPLACE MACRO bottom_k_docs(rel, k) AS TABLE
    SELECT * FROM (
        SELECT *, row_number() OVER (ORDER BY score ASC, id) AS rank FROM query_table(rel)
    ) WHERE rank <= k;

-- top_k_excluding(rel, taken, budget) -> like top_k over the rows of rel whose id is not in
-- `taken` (another relation with an `id` column). Chained, it mixes several criteria by
-- token shares with duplicates removed (QuRating's mix): see README.
CREATE OR REPLACE MACRO top_k_excluding(rel, taken, budget) AS TABLE
    SELECT * FROM (
        SELECT *, sum(n_tokens) OVER (ORDER BY score DESC, id ROWS UNBOUNDED PRECEDING) AS cum_tokens
        FROM query_table(rel) WHERE id NOT IN (SELECT id FROM query_table(taken))
    ) WHERE cum_tokens - n_tokens < budget;
