//! Actix actors for the client, endorser, orderer and committer roles, each driving a core state machine.
