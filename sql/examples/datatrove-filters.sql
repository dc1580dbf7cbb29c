-- datatrove's four quality filters in one query: for every document, the keep (TRUE) or drop
-- (FALSE) decision of GopherQualityFilter, GopherRepetitionFilter, C4QualityFilter and
-- FineWebQualityFilter (datatrove 0.10.1, English, default thresholds), from the columns of
-- the scorers `gopher`, `c4` and `fineweb` (`winnow score LAKE gopher c4 fineweb`); NULL
-- where a document is not scored yet. Change a threshold here instead of re-running a filter.
-- The columns are FLOAT: thresholds are cast to FLOAT so that a statistic exactly at a
-- threshold (5 hashes in 50 words = 0.1) compares as datatrove compares it in float64.
-- A NaN statistic (an empty text, no line) drops the document, as datatrove does.
SELECT
  id,
  -- Gopher quality (Rae et al. 2021): length, word length, symbols, bullets, ellipses,
  -- alphabetic words, stop words
  gopher_word_count BETWEEN 50 AND 100000
    AND gopher_mean_word_length BETWEEN 3 AND 10
    AND gopher_hash_word_ratio <= 0.1::FLOAT
    AND gopher_ellipsis_word_ratio <= 0.1::FLOAT
    AND gopher_bullet_lines_frac <= 0.9::FLOAT
    AND gopher_ellipsis_lines_frac <= 0.3::FLOAT
    AND gopher_alpha_words_frac >= 0.8::FLOAT
    AND gopher_stop_words >= 2
    AS gopher_quality_keep,
  -- Gopher repetition: duplicate paragraphs and lines, top n-grams, duplicate n-grams
  NOT isnan(gopher_dup_para_char_frac)
    AND gopher_dup_para_frac <= 0.3::FLOAT
    AND gopher_dup_para_char_frac <= 0.2::FLOAT
    AND gopher_dup_line_frac <= 0.3::FLOAT
    AND gopher_dup_line_char_frac <= 0.2::FLOAT
    AND gopher_top_2gram_char_frac <= 0.2::FLOAT
    AND gopher_top_3gram_char_frac <= 0.18::FLOAT
    AND gopher_top_4gram_char_frac <= 0.16::FLOAT
    AND gopher_dup_5gram_char_frac <= 0.15::FLOAT
    AND gopher_dup_6gram_char_frac <= 0.14::FLOAT
    AND gopher_dup_7gram_char_frac <= 0.13::FLOAT
    AND gopher_dup_8gram_char_frac <= 0.12::FLOAT
    AND gopher_dup_9gram_char_frac <= 0.11::FLOAT
    AND gopher_dup_10gram_char_frac <= 0.10::FLOAT
    AS gopher_repetition_keep,
  -- C4 (Raffel et al. 2020): no "lorem ipsum", no curly bracket, >= 5 sentences in kept lines
  c4_lorem_ipsum = 0 AND c4_curly_bracket = 0 AND c4_sentences >= 5
    AS c4_quality_keep,
  -- FineWeb: lines ending in punctuation, short lines, duplicated line characters, newlines per word
  NOT isnan(fineweb_line_punct_ratio)
    AND fineweb_line_punct_ratio >= 0.12::FLOAT
    AND fineweb_short_line_ratio <= 0.67::FLOAT
    AND fineweb_char_dup_ratio <= 0.01::FLOAT
    AND fineweb_newline_word_ratio <= 0.3::FLOAT
    AS fineweb_quality_keep
FROM docs
