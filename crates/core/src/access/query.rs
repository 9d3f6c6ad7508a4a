//! The visitor's signed query: the peer's nonce, the peer's identity and the request, signed by
//! the visitor's key. A signature over all three can be neither replayed (the nonce is single
//! use) nor taken to another peer (the peer key is inside).

use super::error::AccessError;
use super::nonce::NonceBook;
use crate::codec::decode_bounded;
use crate::hash::{Hash32, sha256};
use crate::keys::{PublicKey, Signature, SigningKey, purpose};
use crate::wire;
use prost::Message;

/// Largest signed query accepted (a regulator query carries one small read record).
pub const MAX_QUERY_BYTES: usize = 96 * 1024;

/// Signs `body` with the visitor's key (the body's `visitor_key` is set here).
pub fn sign_query(visitor: &SigningKey, mut body: wire::QueryBody) -> wire::SignedQuery {
    body.visitor_key = visitor.public().as_bytes().to_vec();
    let body = body.encode_to_vec();
    wire::SignedQuery {
        signature: visitor.sign(purpose::ACCESS_CHALLENGE, &body).to_vec(),
        body,
    }
}

/// The hash a response names to say which query it answers.
pub fn query_hash(query: &wire::SignedQuery) -> Hash32 {
    sha256(&query.encode_to_vec())
}

/// A query whose signature, binding and nonce checked.
#[derive(Debug, Clone)]
pub struct VerifiedQuery {
    /// The decoded body.
    pub body: wire::QueryBody,
    /// Who signed it.
    pub visitor: PublicKey,
    /// Whose records it asks for.
    pub patient: PublicKey,
    /// What is asked.
    pub kind: wire::QueryKind,
    /// The hash the answer must name.
    pub hash: Hash32,
}

/// Checks a signed query at the peer `me`: the signature is the visitor key's, the query is
/// bound to `me`, and its nonce was issued here, is unused and fresh (it is used up by this
/// call, even when a later check refuses the query).
pub fn verify_query(
    query: &wire::SignedQuery,
    me: &PublicKey,
    nonces: &mut NonceBook,
    now_ms: u64,
) -> Result<VerifiedQuery, AccessError> {
    if query.body.len() > MAX_QUERY_BYTES {
        return Err(AccessError::Malformed("query too large".into()));
    }
    let body: wire::QueryBody = decode_bounded("query", &query.body, MAX_QUERY_BYTES)?;
    let visitor = PublicKey::from_slice(&body.visitor_key)
        .map_err(|e| AccessError::Malformed(format!("visitor key: {e}")))?;
    let signature =
        Signature::from_slice(&query.signature).map_err(|_| AccessError::BadSignature)?;
    visitor
        .verify(purpose::ACCESS_CHALLENGE, &query.body, &signature)
        .map_err(|_| AccessError::BadSignature)?;
    if body.peer_key.as_slice() != me.as_bytes() {
        return Err(AccessError::WrongPeer);
    }
    nonces.consume(&body.nonce, now_ms)?;
    let patient = if body.patient_key.is_empty() {
        visitor
    } else {
        PublicKey::from_slice(&body.patient_key)
            .map_err(|e| AccessError::Malformed(format!("patient key: {e}")))?
    };
    let kind = wire::QueryKind::try_from(body.kind)
        .ok()
        .filter(|k| *k != wire::QueryKind::Unspecified)
        .ok_or_else(|| AccessError::Malformed("unknown query kind".into()))?;
    Ok(VerifiedQuery {
        hash: query_hash(query),
        body,
        visitor,
        patient,
        kind,
    })
}
