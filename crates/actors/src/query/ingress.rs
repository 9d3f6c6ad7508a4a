//! The query server's contract: the messages it handles (challenges, headers, signed queries)
//! and their answer, the [`SignedTips`] the committer fills and the query server reads, and the
//! [`Mailbox`] the router's light-node front holds to reach it. This is all another
//! actor may import from the query server.

use crate::client::ingress::ReadEmr;
use actix::prelude::*;
use medblock_core::access::AccessError;
use medblock_core::access::query::VerifiedQuery;
use medblock_core::keys::{PublicKey, SealingPublic};
use medblock_core::wire;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The newest ledger claim of each committer this node heard (its own included), shared
/// between the committer (which checks each claim's signature before keeping it) and the
/// query server (which hands the newest to light nodes as signed tips).
#[derive(Debug, Clone, Default)]
pub struct SignedTips(Arc<Mutex<HashMap<PublicKey, (u64, wire::LedgerClaim)>>>);

/// Most committers' claims kept.
pub const MAX_KEPT_CLAIMS: usize = 1024;

impl SignedTips {
    /// Keeps `claim` (whose signature by `signer` was checked) if it is `signer`'s newest.
    pub fn record(&self, signer: PublicKey, height: u64, claim: wire::LedgerClaim) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= MAX_KEPT_CLAIMS && !m.contains_key(&signer) {
            return;
        }
        match m.get(&signer) {
            Some((h, _)) if *h > height => {}
            _ => {
                m.insert(signer, (height, claim));
            }
        }
    }

    /// Forgets `signer`'s claim: a committer demoted for claiming heights it could not serve
    /// is not vouched for to light nodes (its false height would be what every answer must
    /// cover).
    pub fn forget(&self, signer: &PublicKey) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(signer);
    }

    /// The `n` highest claims, highest first.
    pub fn newest(&self, n: usize) -> Vec<(PublicKey, wire::LedgerClaim)> {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = m.iter().map(|(k, (h, c))| (*h, *k, c.clone())).collect();
        all.sort_by_key(|a| std::cmp::Reverse(a.0));
        all.into_iter().take(n).map(|(_, k, c)| (k, c)).collect()
    }
}

/// Issue a fresh challenge to the requesting peer (its key counts against its own limit).
#[derive(Debug, Message)]
#[rtype(result = "wire::Challenge")]
pub struct IssueChallenge(pub PublicKey);

/// Serve public block heads.
#[derive(Debug, Message)]
#[rtype(result = "wire::HeadersResponse")]
pub struct ServeHeaders(pub wire::HeadersRequest);

/// Check a signed query and prepare its answer.
#[derive(Debug, Message)]
#[rtype(result = "Result<Prepared, AccessError>")]
pub struct CheckQuery(pub wire::SignedQuery);

/// A checked query with its answer body, still to be signed, and what must happen first.
#[derive(Debug)]
pub struct Prepared {
    /// The query.
    pub query: VerifiedQuery,
    /// The answer (records, crumbs, tip).
    pub body: wire::QueryResultBody,
    /// EMR queries: which event's EMR to read from this hospital's database.
    pub emr: Option<ReadEmr>,
    /// Regulator queries: the read record to hand to an endorser before answering.
    pub read_record: Option<wire::Event>,
    /// EMR queries: the visitor's sealing key the EMR is sealed to before it leaves the node.
    pub seal_to: Option<SealingPublic>,
}

/// What the light-node front holds to reach the query server: one channel per message it
/// takes, all into the one actor's mailbox.
#[derive(Clone)]
pub struct Mailbox {
    /// Challenge requests.
    pub challenge: Recipient<IssueChallenge>,
    /// Header requests.
    pub headers: Recipient<ServeHeaders>,
    /// Signed queries.
    pub check_query: Recipient<CheckQuery>,
}

impl Mailbox {
    /// The mailbox of `addr`, an actor that handles the query server's messages.
    pub fn new<A>(addr: &Addr<A>) -> Self
    where
        A: Actor<Context = Context<A>>
            + Handler<IssueChallenge>
            + Handler<ServeHeaders>
            + Handler<CheckQuery>,
    {
        Self {
            challenge: addr.clone().recipient(),
            headers: addr.clone().recipient(),
            check_query: addr.clone().recipient(),
        }
    }
}
