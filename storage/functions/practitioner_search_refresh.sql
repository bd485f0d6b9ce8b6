-- practitioner_search_refresh: rebuild a practitioner's search row from the sources (profile, display
-- name, active offerings, verified credentials) and add their words to the typo vocabulary. Called in
-- the transaction of every change to those sources (storage/practitioners.py, storage/accounts.py,
-- storage/credentials.py); leaves the rating aggregate alone, which reviews move by increments.
--
-- Weights: A the name and modalities, B offering names and the place, C the bio and offering
-- descriptions. Names and places are indexed as written ('simple'); modalities, which are English
-- words of a fixed vocabulary, with the English stemmer; offerings and the bio with the stemmer of the
-- practitioner's languages (search_config). Each word is indexed once: a second lexeme per word would
-- double what ranking reads (search_query matches a word both ways).

CREATE OR REPLACE FUNCTION practitioner_search_refresh(p_practitioner uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    p record;
    cfg regconfig;
    name_text text;
    modality_text text;
    offering_names text;
    offering_text text;
    doc tsvector;
BEGIN
    SELECT pr.*, u.display_name INTO p FROM practitioners pr JOIN users u ON u.id = pr.user_id
    WHERE pr.user_id = p_practitioner;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    cfg := search_config(p.languages);
    name_text := p.display_name;
    modality_text := replace(array_to_string(p.modalities, ' '), '_', ' ');
    SELECT coalesce(string_agg(o.name, ' '), ''), coalesce(string_agg(o.description, ' '), '')
      INTO offering_names, offering_text
      FROM offerings o WHERE o.practitioner_id = p_practitioner AND o.active;
    doc := setweight(to_tsvector('simple', name_text) || to_tsvector('english', modality_text), 'A')
        || setweight(to_tsvector(cfg, offering_names) || to_tsvector('simple', coalesce(p.place, '')), 'B')
        || setweight(to_tsvector(cfg, p.bio || ' ' || offering_text), 'C');
    INSERT INTO practitioner_search AS s
        (practitioner_id, document, modalities, languages, modes, latitude, longitude, verified, refreshed_at)
    VALUES (
        p_practitioner, doc, p.modalities, p.languages,
        ARRAY(SELECT DISTINCT o.mode FROM offerings o WHERE o.practitioner_id = p_practitioner AND o.active ORDER BY 1),
        p.latitude, p.longitude,
        EXISTS (SELECT 1 FROM credentials c WHERE c.practitioner_id = p_practitioner AND c.status = 'verified'
                AND (c.expires_at IS NULL OR c.expires_at > now())),
        now())
    ON CONFLICT (practitioner_id) DO UPDATE SET
        document = EXCLUDED.document, modalities = EXCLUDED.modalities, languages = EXCLUDED.languages,
        modes = EXCLUDED.modes, latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
        verified = EXCLUDED.verified, refreshed_at = EXCLUDED.refreshed_at;
    INSERT INTO search_vocabulary (word, trigrams)
    SELECT w, word_trigrams(w)
    FROM (SELECT DISTINCT w FROM regexp_split_to_table(
              lower(name_text || ' ' || modality_text || ' ' || offering_names || ' ' || coalesce(p.place, '')),
              '[^[:alpha:]]+') AS w
          WHERE char_length(w) BETWEEN 3 AND 40) AS words
    ON CONFLICT (word) DO NOTHING;
END
$$;
