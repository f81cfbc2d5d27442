-- Written messages delivered by e-mail or SMS (issue #18): one row per delivery to one address,
-- with its state (queued, sent, failed and why) and the retry schedule the delivery worker
-- follows (`notify::retry`). A delivery to a colleague points at the written message that
-- also appears in their list; one to a typed address or mobile number has no message row.
CREATE TABLE message_deliveries (
    id              INTEGER PRIMARY KEY,
    sender_user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    to_user_id      BIGINT REFERENCES users (id) ON DELETE SET NULL,
    message_id      BIGINT REFERENCES written_messages (id) ON DELETE SET NULL,
    channel         TEXT   NOT NULL CHECK (channel IN ('email', 'sms')),
    -- The e-mail address, or the mobile number in stored form (E.164 digits).
    address         TEXT   NOT NULL,
    body            TEXT   NOT NULL,
    state           TEXT   NOT NULL CHECK (state IN ('queued', 'sent', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    -- When the worker tries next (queued only).
    next_attempt_at BIGINT,
    -- Why the last attempt failed (kept after a later success for the record).
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX message_deliveries_due ON message_deliveries (state, next_attempt_at);
CREATE INDEX message_deliveries_sender ON message_deliveries (sender_user_id, created_at);
