-- BAAI IndustryCorpus2 DataRater: `winnow score LAKE datarater` writes `datarater`, the model's raw
-- 0-5 quality regression. Its model card (BAAI/IndustryCorpus2_DataRater): a score >= 3 is
-- relatively high quality, >= 4 absolutely high quality; take as much as your budget needs.
-- Here: relatively high quality (absolutely high only: datarater >= 4). A document the model
-- did not score (empty) holds NaN, which DuckDB orders above every number: hence NOT isnan.
-- Curriculum: materialize with --order datarater.
SELECT id, n_tokens, datarater AS score
FROM docs
WHERE datarater >= 3 AND NOT isnan(datarater)
