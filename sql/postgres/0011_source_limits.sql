-- Failure counters and bans per source that every node shares and a restart keeps (issue #20).
--
-- source_limits: one row per (scope, source). scope says which limit: 'sip' (digest failures
-- and request floods, [sip] auth_failures_max / ban_secs, [security] sip_*), 'http' (login and
-- PIN-reset attempts, [api] ip_max_attempts), 'mailbox' (wrong mailbox PINs, [security]
-- mailbox_*). source is the counted key as text: an IPv4 address, or the first address of an
-- IPv6 /64 for SIP; 'addr:<ip>' or 'cid:<digits>' for the mailbox. failures are counted in
-- a fixed window starting at window_start (epoch ms); a ban in force ends at banned_until
-- (epoch ms). Nodes keep an in-memory fast path and write here only failures and bans, never
-- every packet.
CREATE TABLE source_limits (
    scope TEXT NOT NULL,
    source TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    banned_until BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (scope, source)
);
-- The periodic refresh reads the bans in force.
CREATE INDEX source_limits_banned ON source_limits (banned_until);
