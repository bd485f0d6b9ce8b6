-- word_trigrams: the distinct trigrams of one lower-case word, padded as pg_trgm pads it (two spaces
-- before, one after), so short words and word starts weigh in. The typo vocabulary stores them and a
-- query word's are matched against them with the GIN operator && (pg_trgm is not on the embedded
-- PostgreSQL). Words are short, so the loop is cheap.

CREATE OR REPLACE FUNCTION word_trigrams(p_word text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT
AS $$
DECLARE
    padded text := '  ' || p_word || ' ';
    out text[] := '{}';
    gram text;
BEGIN
    FOR i IN 1 .. char_length(padded) - 2 LOOP
        gram := substr(padded, i, 3);
        IF NOT gram = ANY (out) THEN
            out := out || gram;
        END IF;
    END LOOP;
    RETURN out;
END
$$;
