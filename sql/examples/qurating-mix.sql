-- QuRating's mix of criteria: a quarter of the budget from each criterion's top-k, taken in
-- turn, each skipping documents an earlier criterion already took (no duplicates).
WITH ws AS (SELECT id, n_tokens, qurating_writing_style AS score FROM docs),
     ft AS (SELECT id, n_tokens, qurating_facts_and_trivia AS score FROM docs),
     ev AS (SELECT id, n_tokens, qurating_educational_value AS score FROM docs),
     re AS (SELECT id, n_tokens, qurating_required_expertise AS score FROM docs),
     a AS (SELECT * FROM top_k(ws, 7.5e9)),
     b AS (SELECT * FROM top_k_excluding(ft, a, 7.5e9)),
     ab AS (SELECT id FROM a UNION ALL SELECT id FROM b),
     c AS (SELECT * FROM top_k_excluding(ev, ab, 7.5e9)),
     abc AS (SELECT id FROM ab UNION ALL SELECT id FROM c),
     d AS (SELECT * FROM top_k_excluding(re, abc, 7.5e9))
SELECT id, n_tokens FROM a UNION ALL SELECT id, n_tokens FROM b
UNION ALL SELECT id, n_tokens FROM c UNION ALL SELECT id, n_tokens FROM d
