-- BAAI IndustryCorpus2 DataRater: a 0-5 quality regression; >= 3 is relatively high quality,
-- >= 4 absolutely high quality. Curriculum: materialize with --order datarater.
SELECT id, n_tokens, datarater AS score FROM docs WHERE datarater >= 3
