-- Portable pseudo-randomness: the same numbers on every DuckDB release and in numpy.
-- DuckDB's hash() changed between releases, so sampling never uses it.

-- doc_key(id) -> UBIGINT: md5_number_lower(id), i.e. bytes 8..15 of md5(id) read
-- little-endian (numpy twin: int.from_bytes(md5(id).digest()[8:], "little")).
CREATE OR REPLACE MACRO doc_key(id) AS md5_number_lower(id::VARCHAR);

-- splitmix64(x) -> UBIGINT: one splitmix64 step, 64-bit arithmetic done in UHUGEINT and
-- masked (a modulo would be 60x slower).
CREATE OR REPLACE MACRO _u64(x) AS (x & 18446744073709551615::UHUGEINT);
CREATE OR REPLACE MACRO _splitmix_round(z, s, m) AS _u64(xor(z, z >> s) * m::UHUGEINT);
CREATE OR REPLACE MACRO _splitmix_z(x) AS
    _splitmix_round(_splitmix_round(_u64(x::UHUGEINT + 11400714819323198485::UHUGEINT),
                                    30, 13787848793156543929), 27, 10723151780598845931);
CREATE OR REPLACE MACRO splitmix64(x) AS xor(_splitmix_z(x), _splitmix_z(x) >> 31)::UBIGINT;

-- uniform(id, seed) -> DOUBLE in (0, 1): ((splitmix64(doc_key(id) xor seed) >> 11) + 0.5) / 2^53.
CREATE OR REPLACE MACRO uniform(id, seed) AS
    ((splitmix64(xor(doc_key(id), seed::UBIGINT)) >> 11)::DOUBLE + 0.5) / 9007199254740992.0;

-- gumbel(id, seed) -> DOUBLE: a standard Gumbel draw, -ln(-ln(uniform(id, seed))).
CREATE OR REPLACE MACRO gumbel(id, seed) AS -ln(-ln(uniform(id, seed)));
