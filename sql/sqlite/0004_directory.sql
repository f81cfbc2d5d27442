-- Issue #23, the directory: the organisation's shared phonebook (customers, suppliers) that
-- every user searches and that names callers, and the two voicemail delivery options of the
-- guide that had no column (where a message plays, and the e-mail link to the recording).
-- Keep in step with sql/postgres/0004_directory.sql.

-- One shared contact of an organisation, managed by its receptionists (API, CLI, imports).
CREATE TABLE shared_contacts (
    id          INTEGER PRIMARY KEY,
    org_id      BIGINT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    name        TEXT   NOT NULL,
    -- Lower-cased by the application (Unicode-aware), as users.search_name.
    search_name TEXT   NOT NULL,
    company     TEXT,
    email       TEXT,
    -- Free text for colleagues ("ask for the workshop").
    note        TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX shared_contacts_org ON shared_contacts (org_id, search_name);

-- A contact's numbers, each normalised (src/number.rs: E.164 digits without '+', or a
-- local/service number as typed), so naming a caller is one indexed equality.
CREATE TABLE shared_contact_numbers (
    contact_id BIGINT NOT NULL REFERENCES shared_contacts (id) ON DELETE CASCADE,
    -- Copied from the contact so the caller lookup needs no join to find the organisation's.
    org_id     BIGINT NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    position   BIGINT NOT NULL,
    kind       TEXT   NOT NULL CHECK (kind IN ('work', 'mobile', 'home', 'other')),
    number     TEXT   NOT NULL,
    PRIMARY KEY (contact_id, position)
);
CREATE INDEX shared_contact_numbers_lookup ON shared_contact_numbers (org_id, number);

-- How a user receives voicemail beyond the channel: where the web client plays a message
-- ('web': its own player; 'external': the browser's or the system's player, via a download
-- of the authenticated audio route) and whether the e-mail carries the authenticated link to
-- the recording (apart from attaching it, voicemail_settings.attach_audio). No row = defaults.
CREATE TABLE voicemail_delivery (
    user_id    BIGINT  PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    player     TEXT    NOT NULL DEFAULT 'web' CHECK (player IN ('web', 'external')),
    email_link BOOLEAN NOT NULL DEFAULT TRUE
);
