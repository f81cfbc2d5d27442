-- A node reaches a direct TCP binding another node holds (issue #20).
--
-- sip_address: where this node takes SIP requests, written with its heartbeat: its
-- `[sip] public_address` if set, else its bound listen address, as a SIP URI
-- (`sip:192.0.2.1:5060`, `;transport=tcp` when it takes TCP only). Another node sends there
-- the INVITE for a phone registered directly over TCP to this node (only this node holds that
-- connection), and this node accepts such an INVITE only from an address listed here.
-- NULL: not advertised (a wildcard listen address without a public address).
ALTER TABLE cluster_nodes ADD COLUMN sip_address TEXT;
