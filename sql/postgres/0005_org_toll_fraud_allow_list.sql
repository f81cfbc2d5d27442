-- Issue #19: an organisation's own allow-list for the toll-fraud policy (src/toll_fraud.rs):
-- E.164 prefixes, space-separated, written with the "+" ("+870 +4590"), that the operator's
-- deny-list does not refuse for this organisation (a shipping company calling its vessels'
-- satellite phones). Empty: none. Set with `onestatus org set-allow-list`.
ALTER TABLE organisations ADD COLUMN toll_fraud_allow_list TEXT NOT NULL DEFAULT '';
