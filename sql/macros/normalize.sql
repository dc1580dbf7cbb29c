-- Normalizing score columns. percentile, minmax and zscore_window span the rows of the query
-- they appear in (every row that passes its WHERE clause); zscore over docs has the lake
-- version's constants (see zscore below).
--
-- A NaN (a document its scorer could not score: empty, untokenizable) counts as unknown:
-- it is left out of the mean, deviation, bounds and ranks, and its normalized value is NULL,
-- which sorts last (DuckDB orders NULLs last) and makes a weighted sum NULL.

-- known(x) -> x, or NULL where x is NaN.
CREATE OR REPLACE MACRO known(x) AS
    nullif(x, 'NaN'::DOUBLE);

-- zscore(x) -> DOUBLE: (x - mean) / population standard deviation. In a SELECT over `docs`,
-- winnow's connections (winnow sql, selections, eval) replace the call by arithmetic on the
-- mean and deviation of x over the whole lake version, cached in the catalog's column_stats
-- (sql/stats.py), so a WHERE clause does not move them; elsewhere (over a CTE, a join) this
-- window over the query's rows is what runs.
CREATE OR REPLACE MACRO zscore(x) AS
    (known(x) - avg(known(x)) OVER ()) / nullif(stddev_pop(known(x)) OVER (), 0);

-- zscore_window(x) -> DOUBLE: zscore over the rows of the query, always (never replaced).
CREATE OR REPLACE MACRO zscore_window(x) AS
    (known(x) - avg(known(x)) OVER ()) / nullif(stddev_pop(known(x)) OVER (), 0);

-- percentile(x) -> DOUBLE in [0, 1]: the share of rows with a smaller x (percent_rank).
CREATE OR REPLACE MACRO percentile(x) AS
    CASE WHEN known(x) IS NULL THEN NULL
         ELSE percent_rank() OVER (PARTITION BY known(x) IS NULL ORDER BY known(x)) END;

-- minmax(x) -> DOUBLE in [0, 1]: (x - min) / (max - min).
CREATE OR REPLACE MACRO minmax(x) AS
    (known(x) - min(known(x)) OVER ()) / nullif(max(known(x)) OVER () - min(known(x)) OVER (), 0);
