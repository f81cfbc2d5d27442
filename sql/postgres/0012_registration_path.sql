-- Reaching every phone behind a proxy (RFC 3327 Path; issue #20).
--
-- path: the Path header values of the REGISTER, in order, one per line (NULL: none). Requests
-- to the binding carry them as a preloaded Route set (RFC 3261 §8.1.2) and go to the first
-- one's address: the proxy (Kamailio) that holds the phone's connection or NAT binding.
-- node_id: the node that accepted the REGISTER. For a phone registered directly (no Path) over
-- TCP it is the one node holding that connection; README "Running several nodes".
ALTER TABLE registrations ADD COLUMN path TEXT;
ALTER TABLE registrations ADD COLUMN node_id TEXT;
