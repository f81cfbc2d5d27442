-- Nothing lost with a node (issue #20).
--
-- cluster_recordings: a recording in progress, one row per take, written by the node that
-- records it before its first chunk: whose mailbox, who calls, when it began and the format
-- of its chunks. A survivor claims the row of a dead node (claimed_by/claimed_until, one
-- atomic UPDATE), stores the message and deletes the row and its chunks in one transaction.
CREATE TABLE cluster_recordings (
    id TEXT PRIMARY KEY,
    node_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    user_id BIGINT NOT NULL,
    caller_number TEXT,
    caller_name TEXT,
    received_at BIGINT NOT NULL,
    format TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    claimed_by TEXT,
    claimed_until BIGINT
);
CREATE INDEX cluster_recordings_node ON cluster_recordings (node_id);

-- cluster_recording_chunks: the audio of a recording as it settles, about a second a row,
-- in write order (seq). Each row writes its audio at sample offset offset_samples, dropping
-- what followed (an empty row is a truncation).
CREATE TABLE cluster_recording_chunks (
    recording_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    offset_samples BIGINT NOT NULL,
    audio BLOB NOT NULL,
    PRIMARY KEY (recording_id, seq)
);

-- cluster_dialogs: the SIP dialogs of an answered call (both legs of a bridged call, the
-- caller's of a voicemail call) and the history rows its end would write, so that a survivor
-- can send BYE on each leg and write the history of a call whose node died.
CREATE TABLE cluster_dialogs (
    node_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    claimed_by TEXT,
    claimed_until BIGINT,
    PRIMARY KEY (node_id, call_id)
);
