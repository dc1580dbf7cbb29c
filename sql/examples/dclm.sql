-- DCLM: `winnow score LAKE fasttext` writes `fasttext_oh_eli5`, DCLM's fastText P(hq). Keep
-- documents at or above 0.018112 (about the top 10% of its pool), after its heuristic filters
-- (here: the Gopher statistics). An empty document holds NaN, which DuckDB orders above
-- every number: hence NOT isnan.
SELECT id, n_tokens, fasttext_oh_eli5 AS score
FROM docs
WHERE fasttext_oh_eli5 >= 0.018112 AND NOT isnan(fasttext_oh_eli5)
  AND gopher_word_count BETWEEN 50 AND 100000
  AND gopher_mean_word_length BETWEEN 3 AND 10
