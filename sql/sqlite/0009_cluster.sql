-- Several nodes on one store (issue #20).
--
-- cluster_nodes: each running node's heartbeat (epoch ms), renewed every
-- cluster.heartbeat_secs. A node whose heartbeat is older than heartbeat_secs x
-- missed_heartbeats is taken for dead: its calls stop counting and its leases are free.
CREATE TABLE cluster_nodes (
    node_id TEXT PRIMARY KEY,
    heartbeat_at BIGINT NOT NULL
);

-- cluster_calls: the calls each node carries, per user on the call, so routing on any node
-- sees "on the phone" for a call on another. Written by the node that carries the call.
CREATE TABLE cluster_calls (
    node_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    user_id BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    PRIMARY KEY (node_id, call_id, user_id)
);
CREATE INDEX cluster_calls_user ON cluster_calls (user_id);

-- cluster_leases: one holder per named job (a calendar source's poller) until expires_at
-- (epoch ms); renewed by the holder, taken over by another node once expired.
CREATE TABLE cluster_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- cluster_secrets: secrets every node must share, made by the first node that needs one
-- (sip.nonce_secret = "store": the digest nonce secret).
CREATE TABLE cluster_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
