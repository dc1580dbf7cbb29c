-- Meta-rater (opendatalab/Meta-rater): top-k by sum_j w_j * Q_j over its 25 quality scores,
-- here z-normalized, under a 30B-token budget. The scores come from `winnow score` (rps)
-- and `winnow import-scores` (PRRC, QuRater, FineWeb-Edu, WanjuanCC, DSIR); the weights
-- are placeholders: put the ones your proxy-model regression found.
WITH c AS (
    SELECT id, n_tokens,
          0.0425 * zscore(prrc_professionalism) + 0.0425 * zscore(prrc_readability)
        + 0.0425 * zscore(prrc_reasoning)       + 0.0425 * zscore(prrc_cleanliness)
        + 0.04 * zscore(qurating_writing_style) + 0.04 * zscore(qurating_required_expertise)
        + 0.04 * zscore(qurating_facts_and_trivia) + 0.04 * zscore(qurating_educational_value)
        + 0.04 * zscore(fineweb_edu) - 0.04 * zscore(wanjuan_advertisement) + 0.04 * zscore(wanjuan_fluency)
        + 0.04 * zscore(dsir_books) + 0.04 * zscore(dsir_wiki) + 0.04 * zscore(dsir_math)
        + 0.04 * zscore(rps_doc_word_count) + 0.04 * zscore(rps_doc_num_sentences)
        + 0.04 * zscore(rps_doc_mean_word_length) + 0.04 * zscore(rps_doc_unigram_entropy)
        + 0.04 * zscore(rps_doc_frac_unique_words) - 0.04 * zscore(rps_doc_frac_no_alph_words)
        - 0.04 * zscore(rps_doc_frac_chars_top_2gram) - 0.04 * zscore(rps_doc_frac_chars_top_3gram)
        - 0.04 * zscore(rps_lines_uppercase_letter_fraction) - 0.04 * zscore(rps_lines_numerical_chars_fraction)
        + 0.04 * zscore(rps_lines_ending_with_terminal_punctution_mark) AS score
    FROM docs
)
SELECT id, n_tokens, score FROM top_k(c, 30e9)
