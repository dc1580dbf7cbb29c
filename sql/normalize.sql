-- Normalizing score columns over the rows of the query they appear in.
-- Use them in a SELECT over `docs` (or over candidates): the window spans every row that
-- passes the query's WHERE clause.
--
-- A NaN (a document its scorer could not score: empty, untokenizable) counts as unknown:
-- it is left out of the mean, deviation, bounds and ranks, and its normalized value is NULL,
-- which sorts last (DuckDB orders NULLs last) and makes a weighted sum NULL.

-- known(x) -> x, or NULL where x is NaN.
CREATE OR REPLACE MACRO known(x) AS
    nullif(x, 'NaN'::DOUBLE);

-- zscore(x) -> DOUBLE: (x - mean) / population standard deviation.
CREATE OR REPLACE MACRO zscore(x) AS
    (known(x) - avg(known(x)) OVER ()) / nullif(stddev_pop(known(x)) OVER (), 0);

-- percentile(x) -> DOUBLE in [0, 1]: the share of rows with a smaller x (percent_rank).
CREATE OR REPLACE MACRO percentile(x) AS
    CASE WHEN known(x) IS NULL THEN NULL
         ELSE percent_rank() OVER (PARTITION BY known(x) IS NULL ORDER BY known(x)) END;

-- minmax(x) -> DOUBLE in [0, 1]: (x - min) / (max - min).
CREATE OR REPLACE MACRO minmax(x) AS
    (known(x) - min(known(x)) OVER ()) / nullif(max(known(x)) OVER () - min(known(x)) OVER (), 0);
