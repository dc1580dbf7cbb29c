-- DCLM: keep documents whose fastText quality probability is at least 0.018112 (about the
-- top 10% of its pool), after its heuristic filters (here: the Gopher statistics).
SELECT id, n_tokens, fasttext_hq AS score
FROM docs
WHERE fasttext_hq >= 0.018112
  AND gopher_word_count BETWEEN 50 AND 100000
  AND gopher_mean_word_length BETWEEN 3 AND 10
