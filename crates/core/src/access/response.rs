//! The serving peer's signature over its answer. The answer names the query it answers (by
//! hash) and the peer, so a light node can tell a forged answer (not the asked peer's
//! signature) and a replayed one (another query's hash).

use super::error::ProofError;
use crate::codec::decode_bounded;
use crate::hash::Hash32;
use crate::keys::{PublicKey, Signature, SigningKey, purpose};
use crate::wire;
use prost::Message;

/// Largest answer a light node decodes (EMRs included).
pub const MAX_RESULT_BYTES: usize = 32 * 1024 * 1024;

/// Signs an answer (its `peer_key` and `query_hash` are set here).
pub fn sign_result(
    peer: &SigningKey,
    query_hash: &Hash32,
    mut body: wire::QueryResultBody,
) -> wire::QueryResult {
    body.peer_key = peer.public().as_bytes().to_vec();
    body.query_hash = query_hash.0.to_vec();
    let body = body.encode_to_vec();
    wire::QueryResult {
        signature: peer.sign(purpose::QUERY_RESPONSE, &body).to_vec(),
        body,
    }
}

/// Checks that `result` was signed by `peer`, the peer that was asked, for the query hashed
/// `query_hash`, and returns its body.
pub fn verify_result(
    result: &wire::QueryResult,
    peer: &PublicKey,
    query_hash: &Hash32,
) -> Result<wire::QueryResultBody, ProofError> {
    let body: wire::QueryResultBody =
        decode_bounded("query result", &result.body, MAX_RESULT_BYTES)
            .map_err(|e| ProofError::Malformed(e.to_string()))?;
    let signature =
        Signature::from_slice(&result.signature).map_err(|_| ProofError::BadResponseSignature)?;
    peer.verify(purpose::QUERY_RESPONSE, &result.body, &signature)
        .map_err(|_| ProofError::BadResponseSignature)?;
    if body.peer_key.as_slice() != peer.as_bytes() {
        return Err(ProofError::WrongResponder {
            expected: peer.to_hex(),
            found: hex::encode(&body.peer_key),
        });
    }
    if body.query_hash.as_slice() != query_hash.as_bytes() {
        return Err(ProofError::WrongQuery);
    }
    Ok(body)
}
