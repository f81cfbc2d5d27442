-- A user's name spoken by espeak-ng (issue #18): what the greeting plays for a user who has not
-- recorded their name, instead of their number digit by digit. Kept apart from `recordings` so a
-- recorded name and the generated one live side by side (the user may switch between them, or
-- delete their recording), and marked by what was spoken and in which language so a rename or a
-- language change makes a new one.
CREATE TABLE generated_names (
    user_id    BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    spoken     TEXT   NOT NULL,
    lang       TEXT   NOT NULL CHECK (lang IN ('da', 'sv', 'en')),
    audio      BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);
