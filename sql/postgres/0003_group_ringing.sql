-- Groups rung by OneStatus itself (issue #17): how a group rings its members and who takes the
-- call when nobody answers.
--
-- ring_strategy: 'all' rings every available member at once for ring_timeout_secs;
-- 'in_order' rings them one at a time in group_members.position order, each for
-- ring_timeout_secs.
-- fallback: 'voicemail' hands an unanswered call to the group's mailbox (the mailbox of
-- voicemail_user_id, or of the first member in order when that is NULL); 'number' rings
-- fallback_number (a colleague or, through the trunk and the toll-fraud policy, an outside
-- number) and only then the group's mailbox.
ALTER TABLE groups ADD COLUMN ring_strategy TEXT NOT NULL DEFAULT 'all'
    CHECK (ring_strategy IN ('all', 'in_order'));
ALTER TABLE groups ADD COLUMN ring_timeout_secs BIGINT NOT NULL DEFAULT 20
    CHECK (ring_timeout_secs BETWEEN 5 AND 180);
ALTER TABLE groups ADD COLUMN fallback TEXT NOT NULL DEFAULT 'voicemail'
    CHECK (fallback IN ('voicemail', 'number'));
ALTER TABLE groups ADD COLUMN fallback_number TEXT;
ALTER TABLE groups ADD COLUMN voicemail_user_id BIGINT REFERENCES users (id) ON DELETE SET NULL;
