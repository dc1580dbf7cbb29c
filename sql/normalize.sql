-- Normalizing score columns over the rows of the query they appear in.
-- Use them in a SELECT over `docs` (or over candidates): the window spans every row that
-- passes the query's WHERE clause.

-- zscore(x) -> DOUBLE: (x - mean) / population standard deviation.
CREATE OR REPLACE MACRO zscore(x) AS
    (x - avg(x) OVER ()) / nullif(stddev_pop(x) OVER (), 0);

-- percentile(x) -> DOUBLE in [0, 1]: the share of rows with a smaller x (percent_rank).
CREATE OR REPLACE MACRO percentile(x) AS
    percent_rank() OVER (ORDER BY x);

-- minmax(x) -> DOUBLE in [0, 1]: (x - min) / (max - min).
CREATE OR REPLACE MACRO minmax(x) AS
    (x - min(x) OVER ()) / nullif(max(x) OVER () - min(x) OVER (), 0);
