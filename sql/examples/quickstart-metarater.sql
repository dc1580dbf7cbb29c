-- Meta-rater style, on the quickstart lake: top-k by a weighted sum of z-scored quality
-- signals (here 6 of the 11 RedPajama-V2 signals Meta-rater uses, with hand-set weights),
-- English only, under a budget of half the lake's tokens.
WITH c AS (
    SELECT id, n_tokens,
          0.30 * zscore(rps_doc_frac_unique_words)
        + 0.20 * zscore(rps_doc_unigram_entropy)
        + 0.20 * zscore(rps_lines_ending_with_terminal_punctution_mark)
        - 0.10 * zscore(rps_doc_frac_no_alph_words)
        - 0.10 * zscore(rps_doc_frac_chars_top_2gram)
        - 0.10 * zscore(rps_lines_uppercase_letter_fraction) AS score
    FROM docs
    WHERE lang = 'en'
)
SELECT id, n_tokens, score
FROM top_k(c, (SELECT sum(n_tokens) / 2 FROM docs))
