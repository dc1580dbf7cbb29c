-- Macros of `winnow report` (winnow/views/report/aggregates.py), loaded on its own connection.
--
-- A score is "known" where it is a finite number: NULL, NaN and +-Infinity are counted
-- apart (null, NaN and infinite shares) and left out of quantiles, histograms and correlations.

-- finite(x) -> DOUBLE: x as a double, or NULL where x is NULL, NaN or infinite.
CREATE OR REPLACE MACRO finite(x) AS
    CASE WHEN isfinite(x::DOUBLE) THEN x::DOUBLE END;

-- bin_of(x, lo, width, bins) -> INTEGER in [0, bins): the histogram bin of a finite x over
-- bins of `width` (> 0) from `lo`; values outside [lo, lo + bins * width] fall in the edge
-- bins (the report clamps heavy tails this way); NULL for an unknown x.
CREATE OR REPLACE MACRO bin_of(x, lo, width, bins) AS
    least(greatest(floor((finite(x) - lo) / width), 0), bins - 1)::INTEGER;
