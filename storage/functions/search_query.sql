-- search_query: the tsquery of a search. p_groups holds one group per query word: the word and its
-- typo corrections, as a tsquery text of quoted alternatives ('acupunture' | 'acupuncture'), built by
-- discovery/typos.py from letters only. A group matches a document by the exact word ('simple': names,
-- places) or by its stem in p_config (modalities, offerings, bios); groups are ANDed. A group that is
-- only stop words in p_config is dropped, so "yoga in Leeds" does not require the word "in". The
-- result is NULL when every group was dropped.

CREATE OR REPLACE FUNCTION search_query(p_config regconfig, p_groups text[]) RETURNS tsquery
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
    g text;
    stemmed tsquery;
    q tsquery;
BEGIN
    FOREACH g IN ARRAY coalesce(p_groups, '{}') LOOP
        stemmed := to_tsquery(p_config, g);
        IF numnode(stemmed) = 0 THEN
            CONTINUE;
        END IF;
        IF stemmed::text <> to_tsquery('simple', g)::text THEN
            stemmed := to_tsquery('simple', g) || stemmed;
        END IF;
        q := CASE WHEN q IS NULL THEN stemmed ELSE q && stemmed END;
    END LOOP;
    RETURN q;
END
$$;
