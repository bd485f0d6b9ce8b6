-- search_config: the text search configuration for a language tag list (the first tag PostgreSQL has
-- a stemmer for), or 'simple'. Documents are indexed with both 'simple' and this configuration, so a
-- query matches the exact word as well as its stem in the practitioner's language.

CREATE OR REPLACE FUNCTION search_config(p_languages text[]) RETURNS regconfig
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT coalesce((
    SELECT c.cfg FROM unnest(p_languages) WITH ORDINALITY AS l (tag, n)
    JOIN (VALUES ('en', 'english'), ('fr', 'french'), ('de', 'german'), ('es', 'spanish'), ('it', 'italian'),
                 ('pt', 'portuguese'), ('nl', 'dutch'), ('ru', 'russian'), ('sv', 'swedish'), ('da', 'danish'),
                 ('nb', 'norwegian'), ('no', 'norwegian'), ('fi', 'finnish'), ('hu', 'hungarian'),
                 ('ro', 'romanian'), ('tr', 'turkish')) AS c (tag, cfg)
      ON c.tag = split_part(lower(l.tag), '-', 1)
    ORDER BY l.n LIMIT 1), 'simple')::regconfig
$$;
