-- OneStatus schema, SQLite flavour. Keep in step with sql/postgres/0001_init.sql: same tables,
-- same columns, same meaning; only the spelling of types differs (INTEGER PRIMARY KEY vs
-- IDENTITY, BLOB vs BYTEA, BOOLEAN stored as 0/1).
--
-- Conventions (both backends):
--   * Every instant is BIGINT epoch milliseconds, UTC (`*_at`, `valid_from`, `locked_until`).
--     One integer type compares and indexes the same way in SQLite and PostgreSQL, and the
--     routing hot path ("absences in force at now") is a pair of integer comparisons.
--   * Local wall-clock times of day (working hours, schedules) are INTEGER minutes after
--     midnight in the organisation's timezone (`organisations.timezone`, an IANA name).
--   * Weekday sets are INTEGER bitmasks: bit 0 = Monday ... bit 6 = Sunday (ISO 8601 order).
--   * Enumerations are lower-case TEXT as spelled in src/domain.rs / src/store/model.rs; the
--     origin of an absence is 'OL', 'WEB' or a receptionist's initials.
--   * Secrets are never stored in the clear: PINs as argon2id PHC strings, SIP passwords as
--     digest HA1 (RFC 2617 / RFC 7616 H(username:realm:password)), API tokens as SHA-256 hex.
--   * Interval ends are exclusive: an absence covers [starts_at, ends_at); NULL ends_at means
--     "until further notice".

CREATE TABLE organisations (
    id                        INTEGER PRIMARY KEY,
    customer_code             TEXT    NOT NULL UNIQUE CHECK (length(customer_code) = 3),
    name                      TEXT    NOT NULL,
    timezone                  TEXT    NOT NULL,
    allow_external_forwarding BOOLEAN NOT NULL DEFAULT TRUE,
    -- The number of the organisation's receptionist group (a row in `groups`); a number rather
    -- than a foreign key because groups belong to the organisation (no cycle).
    receptionist_group_number TEXT,
    created_at                BIGINT  NOT NULL
);

CREATE TABLE users (
    id                     INTEGER PRIMARY KEY,
    org_id                 BIGINT  NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    name                   TEXT    NOT NULL,
    -- Lower-cased name (Unicode-aware, done by the application) for case-insensitive search:
    -- SQLite's lower() only folds ASCII, so "Ærø" would not match "ærø" otherwise.
    search_name            TEXT    NOT NULL,
    one_number             TEXT    NOT NULL UNIQUE,
    -- customer code + last 4 digits of the OneNumber: the web-client login.
    local_number           TEXT    NOT NULL UNIQUE,
    mobile_number          TEXT,
    email                  TEXT,
    department             TEXT,
    work_start_min         INTEGER NOT NULL DEFAULT 480,
    work_end_min           INTEGER NOT NULL DEFAULT 960,
    work_days              INTEGER NOT NULL DEFAULT 31,
    role                   TEXT    NOT NULL CHECK (role IN ('user', 'receptionist')),
    initials               TEXT,
    pin_hash               TEXT    NOT NULL,
    pin_must_change        BOOLEAN NOT NULL DEFAULT TRUE,
    lang                   TEXT    NOT NULL CHECK (lang IN ('da', 'sv', 'en')),
    start_page             TEXT    NOT NULL DEFAULT 'status',
    search_scope           TEXT    NOT NULL DEFAULT 'all'
                                   CHECK (search_scope IN ('all', 'internal', 'external')),
    no_answer_timeout_secs INTEGER NOT NULL DEFAULT 20,
    allow_second_call      BOOLEAN NOT NULL DEFAULT FALSE,
    failed_pin_attempts    INTEGER NOT NULL DEFAULT 0,
    locked_until           BIGINT,
    created_at             BIGINT  NOT NULL
);
CREATE INDEX users_org ON users (org_id, search_name);

CREATE TABLE devices (
    id           INTEGER PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT   NOT NULL CHECK (kind IN ('desk', 'soft', 'mobile')),
    sip_username TEXT   NOT NULL UNIQUE,
    realm        TEXT   NOT NULL,
    -- RFC 2617 / RFC 7616 HA1 = H(username:realm:password), hex, for each digest algorithm.
    ha1_md5      TEXT   NOT NULL,
    ha1_sha256   TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX devices_user ON devices (user_id);

-- Registrar bindings (RFC 3261 §10.3), persisted so that a restart does not forget phones.
CREATE TABLE registrations (
    id            INTEGER PRIMARY KEY,
    user_id       BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id     BIGINT  REFERENCES devices (id) ON DELETE CASCADE,
    contact_uri   TEXT    NOT NULL,
    expires_at    BIGINT  NOT NULL,
    call_id       TEXT    NOT NULL,
    cseq          BIGINT  NOT NULL,
    -- q-value times 1000 (RFC 3261 §20.10 allows three decimals), so it stays exact.
    q_millis      INTEGER NOT NULL DEFAULT 1000,
    received_addr TEXT    NOT NULL,
    transport     TEXT    NOT NULL,
    -- RFC 5626 +sip.instance and reg-id, when the UA sent them.
    instance_id   TEXT,
    reg_id        INTEGER,
    updated_at    BIGINT  NOT NULL,
    UNIQUE (user_id, contact_uri)
);
CREATE INDEX registrations_expiry ON registrations (expires_at);

CREATE TABLE calendar_sources (
    id            INTEGER PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT   NOT NULL CHECK (kind IN ('url', 'file')),
    url           TEXT   NOT NULL,
    auth          TEXT,
    etag          TEXT,
    last_modified TEXT,
    last_error    TEXT,
    last_sync_at  BIGINT,
    created_at    BIGINT NOT NULL
);

CREATE TABLE calendar_entries (
    id            INTEGER PRIMARY KEY,
    user_id       BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source_id     BIGINT  REFERENCES calendar_sources (id) ON DELETE CASCADE,
    external_uid  TEXT    NOT NULL,
    -- RFC 5545 RECURRENCE-ID of an overridden instance; '' for the master/single entry, so
    -- that the UNIQUE key below also holds for it (NULLs never collide).
    recurrence_id TEXT    NOT NULL DEFAULT '',
    subject       TEXT    NOT NULL,
    starts_at     BIGINT  NOT NULL,
    ends_at       BIGINT  NOT NULL,
    all_day       BOOLEAN NOT NULL DEFAULT FALSE,
    busy_status   TEXT    NOT NULL,
    origin        TEXT    NOT NULL,
    -- Set when the user edits or deletes an imported entry: a later sync must not undo it.
    user_edited   BOOLEAN NOT NULL DEFAULT FALSE,
    user_deleted  BOOLEAN NOT NULL DEFAULT FALSE,
    code_override TEXT,
    -- When a sync last saw this entry in its feed; entries a sync no longer sees are pruned.
    seen_at       BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    UNIQUE (user_id, external_uid, recurrence_id)
);
CREATE INDEX calendar_entries_user_time ON calendar_entries (user_id, starts_at);

CREATE TABLE absences (
    id                 INTEGER PRIMARY KEY,
    user_id            BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason             TEXT   NOT NULL,
    starts_at          BIGINT NOT NULL,
    ends_at            BIGINT,
    destination_kind   TEXT   NOT NULL CHECK (destination_kind IN ('voicemail', 'number', 'open')),
    destination_number TEXT,
    free_text          TEXT,
    receptionist_note  TEXT,
    origin             TEXT   NOT NULL,
    calendar_entry_id  BIGINT REFERENCES calendar_entries (id) ON DELETE SET NULL,
    created_by         BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    CHECK (ends_at IS NULL OR ends_at > starts_at)
);
-- The routing hot path: "what is in force for this user at now".
CREATE INDEX absences_user_time ON absences (user_id, starts_at, ends_at);

CREATE TABLE schedules (
    id                 INTEGER PRIMARY KEY,
    user_id            BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    weekdays           INTEGER NOT NULL CHECK (weekdays BETWEEN 1 AND 127),
    start_min          INTEGER NOT NULL CHECK (start_min BETWEEN 0 AND 1439),
    end_min            INTEGER NOT NULL CHECK (end_min BETWEEN 1 AND 1440),
    reason             TEXT    NOT NULL,
    destination_kind   TEXT    NOT NULL CHECK (destination_kind IN ('voicemail', 'number', 'open')),
    destination_number TEXT,
    free_text          TEXT,
    valid_from         BIGINT,
    valid_until        BIGINT,
    created_at         BIGINT  NOT NULL
);
CREATE INDEX schedules_user ON schedules (user_id);

CREATE TABLE quick_forwards (
    id                 INTEGER PRIMARY KEY,
    user_id            BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label              TEXT    NOT NULL,
    reason             TEXT    NOT NULL,
    -- NULL means "until the end of the working day" (users.work_end_min).
    duration_minutes   INTEGER,
    destination_kind   TEXT    NOT NULL CHECK (destination_kind IN ('voicemail', 'number', 'open')),
    destination_number TEXT,
    is_default         BOOLEAN NOT NULL DEFAULT FALSE,
    position           INTEGER NOT NULL,
    created_at         BIGINT  NOT NULL
);
CREATE INDEX quick_forwards_user ON quick_forwards (user_id, position);

CREATE TABLE saved_destinations (
    id         INTEGER PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label      TEXT   NOT NULL,
    kind       TEXT   NOT NULL CHECK (kind IN ('group', 'colleague', 'external')),
    number     TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX saved_destinations_user ON saved_destinations (user_id);

CREATE TABLE voicemail_settings (
    user_id                      BIGINT  PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secondary_lang               TEXT    CHECK (secondary_lang IN ('da', 'sv', 'en')),
    allow_messages               BOOLEAN NOT NULL DEFAULT TRUE,
    receptionist_option          BOOLEAN NOT NULL DEFAULT FALSE,
    receptionist_group_number    TEXT,
    use_own_name                 BOOLEAN NOT NULL DEFAULT FALSE,
    use_own_greeting             BOOLEAN NOT NULL DEFAULT FALSE,
    quick_listen                 BOOLEAN NOT NULL DEFAULT FALSE,
    notify_channel               TEXT    NOT NULL DEFAULT 'email'
                                         CHECK (notify_channel IN ('email', 'sms', 'both', 'none')),
    attach_audio                 BOOLEAN NOT NULL DEFAULT TRUE,
    max_message_secs             INTEGER NOT NULL DEFAULT 180,
    pin_required_from_own_device BOOLEAN NOT NULL DEFAULT TRUE
);

-- The user's own recorded name and greeting (WAV bytes).
CREATE TABLE recordings (
    id         INTEGER PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT   NOT NULL CHECK (kind IN ('name', 'greeting')),
    audio      BLOB   NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, kind)
);

CREATE TABLE voicemail_messages (
    id            INTEGER PRIMARY KEY,
    user_id       BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    caller_number TEXT,
    caller_name   TEXT,
    received_at   BIGINT  NOT NULL,
    duration_ms   BIGINT  NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('new', 'read', 'saved')),
    audio         BLOB    NOT NULL,
    deleted       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX voicemail_messages_user ON voicemail_messages (user_id, deleted, received_at);

CREATE TABLE written_messages (
    id            INTEGER PRIMARY KEY,
    to_user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    from_user_id  BIGINT REFERENCES users (id) ON DELETE SET NULL,
    -- Name and/or number of an external sender (when from_user_id is NULL).
    from_external TEXT,
    channel       TEXT   NOT NULL CHECK (channel IN ('email', 'sms')),
    body          TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    state         TEXT   NOT NULL CHECK (state IN ('new', 'read', 'saved'))
);
CREATE INDEX written_messages_user ON written_messages (to_user_id, created_at);

CREATE TABLE call_history (
    id           INTEGER PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    direction    TEXT   NOT NULL CHECK (direction IN ('in', 'out', 'missed')),
    other_number TEXT   NOT NULL,
    other_name   TEXT,
    started_at   BIGINT NOT NULL,
    answered_at  BIGINT,
    ended_at     BIGINT,
    -- What the router did: 'ring', 'voicemail', 'forward:<number>', 'busy', ...
    route        TEXT
);
CREATE INDEX call_history_user ON call_history (user_id, started_at);

CREATE TABLE contacts (
    id            INTEGER PRIMARY KEY,
    owner_user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT   NOT NULL,
    search_name   TEXT   NOT NULL,
    company       TEXT,
    email         TEXT,
    phone_number  TEXT,
    mobile_number TEXT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX contacts_owner ON contacts (owner_user_id, search_name);

CREATE TABLE favourites (
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    colleague_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (user_id, colleague_id)
);

CREATE TABLE standard_messages (
    id         INTEGER PRIMARY KEY,
    org_id     BIGINT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    text       TEXT   NOT NULL,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE groups (
    id         INTEGER PRIMARY KEY,
    org_id     BIGINT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    name       TEXT   NOT NULL,
    number     TEXT   NOT NULL UNIQUE,
    kind       TEXT   NOT NULL CHECK (kind IN ('hunt', 'receptionist')),
    created_at BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id BIGINT  NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    position INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE api_sessions (
    -- SHA-256 (hex) of the bearer token; the token itself is only ever held by the client.
    token_hash TEXT   PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX api_sessions_user ON api_sessions (user_id);

-- RFC 3842 message-summary subscriptions (RFC 6665 dialogs) from phones that SUBSCRIBE
-- instead of accepting unsolicited NOTIFYs.
CREATE TABLE mwi_subscriptions (
    id          INTEGER PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    call_id     TEXT   NOT NULL,
    from_tag    TEXT   NOT NULL,
    to_tag      TEXT   NOT NULL,
    contact_uri TEXT   NOT NULL,
    route_set   TEXT   NOT NULL DEFAULT '',
    local_cseq  BIGINT NOT NULL DEFAULT 0,
    expires_at  BIGINT NOT NULL,
    UNIQUE (call_id, from_tag, to_tag)
);
CREATE INDEX mwi_subscriptions_user ON mwi_subscriptions (user_id);
