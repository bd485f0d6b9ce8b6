-- post_messages: store a batch of messages in one round trip.
--
-- The caller (the process's message writer) collects the sends that arrive
-- while a batch is in flight and posts them together, so throughput grows
-- with load instead of paying one round trip per message.
-- For each item it checks membership, that the conversation is not a pending
-- contact request (migration 0034), and the conversation's encryption mode,
-- then takes the next seq/rev under the conversation's row lock. Rows are
-- locked in id order so two batches can never deadlock. A (sender, client_id)
-- pair that was already stored returns the original message instead.
-- A stored message is reported to `message.created` webhooks (metadata only,
-- never the body), in the same transaction; a cheap check skips that while no
-- subscription wants it.

CREATE OR REPLACE FUNCTION post_messages(
    p_conversation uuid[], p_id uuid[], p_sender uuid[], p_client uuid[],
    p_body bytea[], p_ciphertext bytea[], p_nonce bytea[], p_key text[]
) RETURNS TABLE (
    idx int, status text, id uuid, seq bigint, rev bigint, created_at timestamptz, conversation_id uuid,
    body_sealed bytea, ciphertext bytea, nonce bytea, sender_key_id text
) LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    i int;
    v_e2ee boolean;
    v_accepted boolean;
    v_hooks boolean;
    old record;
BEGIN
    PERFORM 1 FROM conversations c WHERE c.id = ANY (p_conversation) ORDER BY c.id FOR UPDATE;
    v_hooks := EXISTS (SELECT 1 FROM webhook_subscriptions s
                       WHERE 'message.created' = ANY (s.events) AND s.deleted_at IS NULL AND s.disabled_at IS NULL);
    FOR i IN 1 .. coalesce(array_length(p_id, 1), 0) LOOP
        idx := i;
        id := NULL; seq := NULL; rev := NULL; created_at := NULL; conversation_id := p_conversation[i];
        body_sealed := NULL; ciphertext := NULL; nonce := NULL; sender_key_id := NULL;

        SELECT c.e2ee, c.accepted_at IS NOT NULL INTO v_e2ee, v_accepted
        FROM conversations c JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = p_sender[i]
        WHERE c.id = p_conversation[i];
        IF NOT FOUND THEN
            status := 'not_member';
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF NOT v_accepted THEN
            status := 'request_pending';
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF v_e2ee <> (p_ciphertext[i] IS NOT NULL) THEN
            status := CASE WHEN v_e2ee THEN 'e2ee_required' ELSE 'plaintext_required' END;
            RETURN NEXT;
            CONTINUE;
        END IF;

        INSERT INTO messages AS msg (conversation_id, seq, rev, id, sender_id, client_id, body_sealed, ciphertext, nonce, sender_key_id)
        SELECT p_conversation[i], c.last_seq + 1, c.last_rev + 1, p_id[i], p_sender[i], p_client[i],
               p_body[i], p_ciphertext[i], p_nonce[i], p_key[i]
        FROM conversations c WHERE c.id = p_conversation[i]
        ON CONFLICT ON CONSTRAINT messages_client_id_unique DO NOTHING
        RETURNING msg.seq, msg.rev, msg.created_at INTO seq, rev, created_at;

        IF FOUND THEN
            UPDATE conversations c SET last_seq = seq, last_rev = rev, last_message_at = created_at
            WHERE c.id = p_conversation[i];
            status := 'ok'; id := p_id[i];
            body_sealed := p_body[i]; ciphertext := p_ciphertext[i]; nonce := p_nonce[i]; sender_key_id := p_key[i];
            IF v_hooks THEN
                PERFORM webhooks_enqueue(
                    'message.created',
                    ARRAY(SELECT m.user_id FROM conversation_members m WHERE m.conversation_id = p_conversation[i]),
                    NULL, NULL,
                    jsonb_build_object('conversation_id', p_conversation[i], 'message_id', id, 'seq', seq,
                                       'sender_id', p_sender[i], 'created_at', created_at),
                    'messages:read');
            END IF;
        ELSE
            SELECT * INTO old FROM messages msg WHERE msg.sender_id = p_sender[i] AND msg.client_id = p_client[i];
            status := CASE WHEN old.conversation_id = p_conversation[i] THEN 'duplicate' ELSE 'client_id_reused' END;
            IF status = 'duplicate' THEN
                id := old.id; seq := old.seq; rev := old.rev; created_at := old.created_at;
                body_sealed := old.body_sealed; ciphertext := old.ciphertext; nonce := old.nonce; sender_key_id := old.sender_key_id;
            END IF;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
