//! Tests of the routing decision.
