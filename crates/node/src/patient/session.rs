//! The light node: a libp2p node under a fresh transport key per session (the visitor's key is
//! proven only inside his signed queries) that keeps no ledger. It dials
//! peers by address (Kademlia, seeded by those addresses, finds more), answers nothing, and
//! checks every answer against genesis: the peer's signature, then each record's Merkle path and
//! its block's commit certificate. A peer whose answer fails is left for the next one.

use super::error::PatientError;
use medblock_core::access::proof::{CheckedRecord, Verifier, find_omission};
use medblock_core::access::query::{query_hash, sign_query};
use medblock_core::access::record::build_access_event;
use medblock_core::access::response::verify_result;
use medblock_core::access::{AccessError, ProofError};
use medblock_core::event::ParsedEvent;
use medblock_core::genesis::{VerifiedGenesis, verify_genesis};
use medblock_core::keys::{Identity, PublicKey, Signature, SigningKey, purpose};
use medblock_core::sealing::{emr_binding, open_sealed};
use medblock_core::wire::{self, error_reply::Code};
use medblock_p2p::{NetworkEvent, NetworkEvents, NetworkHandle, P2pConfig, Verdict};
use prost::Message;
use std::time::Duration;

/// How many times a peer whose answer is short of the signed tip is asked again (a second
/// apart) before its omission is reported: an honest peer a block or two behind catches up.
pub const CATCH_UP_RETRIES: u32 = 3;

/// A verified answer from one peer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The peer that answered.
    pub peer: PublicKey,
    /// Its tip height when it answered (its own word: informative only).
    pub tip: u64,
    /// The highest tip signed by a certified committer its answer carried (verified): the
    /// height up to which its answer must hold every record another peer proves.
    pub signed_tip: u64,
    /// Every record it returned, each checked.
    pub records: Vec<CheckedRecord>,
}

/// A running light node.
pub struct LightNode {
    /// The visitor's keys.
    pub identity: Identity,
    /// The network genesis.
    pub genesis: VerifiedGenesis,
    /// Checks answers against the configuration at each height; learns configuration blocks
    /// from the peers it asks (see [`LightNode::learn_configuration`]).
    verifier: std::sync::Mutex<Verifier>,
    net: NetworkHandle,
    peers: Vec<PublicKey>,
    timeout: Duration,
    pump: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for LightNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LightNode")
            .field("key", &self.identity.signing.public())
            .finish()
    }
}

impl LightNode {
    /// Starts the light node (on the current tokio runtime) and dials `peers` (multiaddrs ending
    /// in `/p2p/<peer id>`), which also seed its Kademlia table.
    pub async fn start(
        identity: Identity,
        genesis: &[u8],
        peers: &[String],
        timeout: Duration,
    ) -> Result<Self, PatientError> {
        let genesis = verify_genesis(genesis)?;
        // A fresh transport key for each session: peers' identify and Kademlia tables see only
        // it, never the ledger key, so they cannot tie the visitor's key to his address. The
        // ledger key is proven only inside each signed query.
        let transport = SigningKey::generate(&mut rand::rng());
        let mut cfg = P2pConfig::new(transport, "/ip4/127.0.0.1/tcp/0");
        cfg.bootstrap = peers.to_vec();
        cfg.request_timeout = timeout;
        cfg.max_message_bytes = 32 * 1024 * 1024;
        cfg.target_peers = 8;
        // A Kademlia client: it finds nodes, but no node lists it or gives its address away.
        cfg.kademlia_server = false;
        // Outside gossip: it sees the ledger only through signed queries. It admits nobody
        // (it runs no certificate handshake), so it has no handshake timer either.
        cfg.gossip = false;
        cfg.handshake_timeout = None;
        let (net, events) = medblock_p2p::spawn(cfg).await?;
        let pump = tokio::spawn(pump(net.clone(), events));
        let mut node = Self {
            verifier: std::sync::Mutex::new(Verifier::new(&genesis)),
            identity,
            genesis,
            net,
            peers: Vec::new(),
            timeout,
            pump,
        };
        for p in peers {
            node.add_peer(p).await?;
        }
        Ok(node)
    }

    /// Dials one more peer and remembers it.
    pub async fn add_peer(&mut self, addr: &str) -> Result<PublicKey, PatientError> {
        let key = medblock_p2p::peer_key_from_addr(addr)?;
        self.net.dial(addr.to_owned()).await?;
        if !self.peers.contains(&key) {
            self.peers.push(key);
        }
        Ok(key)
    }

    /// The peers given, then those found since through Kademlia.
    pub async fn known_peers(&self) -> Vec<PublicKey> {
        let mut all = self.peers.clone();
        for p in self.net.peers().await {
            if !all.contains(&p.key) {
                all.push(p.key);
            }
        }
        all
    }

    /// The name genesis's certificate gives `key` (its hex when it has none).
    pub fn name_of(&self, key: &PublicKey) -> String {
        self.genesis
            .trust
            .get(key)
            .map(|c| c.body.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| key.to_hex())
    }

    /// This visitor's key.
    pub fn key(&self) -> PublicKey {
        self.identity.signing.public()
    }

    /// The key this session's connections carry (its libp2p peer id): fresh for each session,
    /// never the visitor's ledger key.
    pub fn transport_key(&self) -> PublicKey {
        self.net.local_key()
    }

    /// Stops the network.
    pub async fn shutdown(self) {
        self.net.shutdown().await;
        self.pump.abort();
    }

    /// Sends one request and returns the answer, turning refusals into typed errors.
    pub async fn request(
        &self,
        peer: PublicKey,
        kind: wire::net_request::Kind,
    ) -> Result<wire::net_response::Kind, PatientError> {
        let resp = self
            .net
            .request(peer, wire::NetRequest { kind: Some(kind) })
            .await?;
        match resp.kind {
            Some(wire::net_response::Kind::Denied(d)) => {
                Err(PatientError::Denied(AccessError::from_denial(&d)))
            }
            Some(wire::net_response::Kind::Error(e)) => Err(PatientError::Peer {
                code: e.code,
                message: e.message,
            }),
            Some(k) => Ok(k),
            None => Err(PatientError::Unexpected),
        }
    }

    /// Asks `peer` for a fresh challenge.
    pub async fn challenge(&self, peer: PublicKey) -> Result<wire::Challenge, PatientError> {
        match self
            .request(
                peer,
                wire::net_request::Kind::Challenge(wire::ChallengeRequest {}),
            )
            .await?
        {
            // The connection to `peer` is authenticated under its key (the noise handshake
            // binds it to the peer id dialled): a challenge naming another key is not this
            // peer's, and a query signed over it would be bound to someone else.
            wire::net_response::Kind::Challenge(c) if c.peer_key.as_slice() == peer.as_bytes() => {
                Ok(c)
            }
            wire::net_response::Kind::Challenge(c) => Err(PatientError::WrongChallengePeer {
                asked: peer,
                named: hex::encode(&c.peer_key),
            }),
            _ => Err(PatientError::Unexpected),
        }
    }

    /// Signs a query over `challenge` (the visitor key is filled in).
    pub fn sign(
        &self,
        challenge: &wire::Challenge,
        mut body: wire::QueryBody,
    ) -> wire::SignedQuery {
        body.nonce = challenge.nonce.clone();
        body.peer_key = challenge.peer_key.clone();
        sign_query(&self.identity.signing, body)
    }

    /// Sends a signed query to `peer` and checks that the answer is `peer`'s, for this query.
    pub async fn send_query(
        &self,
        peer: PublicKey,
        query: wire::SignedQuery,
    ) -> Result<wire::QueryResultBody, PatientError> {
        let hash = query_hash(&query);
        match self
            .request(peer, wire::net_request::Kind::Query(query))
            .await?
        {
            wire::net_response::Kind::Query(r) => Ok(verify_result(&r, &peer, &hash)?),
            _ => Err(PatientError::Unexpected),
        }
    }

    /// The body of a records query about `patient`; a regulator reading another patient adds
    /// the read record the peer must put on the ledger first.
    fn records_body(&self, challenge: &wire::Challenge, patient: &PublicKey) -> wire::QueryBody {
        let mut body = wire::QueryBody {
            kind: wire::QueryKind::Records as i32,
            patient_key: patient.as_bytes().to_vec(),
            ..Default::default()
        };
        if *patient != self.key() && self.genesis.regulator_key == Some(self.key()) {
            let record = wire::AccessRecord {
                kind: Some(wire::access_record::Kind::Read(wire::RegulatorRead {
                    patient_key: patient.as_bytes().to_vec(),
                    nonce: challenge.nonce.clone(),
                    peer_key: challenge.peer_key.clone(),
                })),
            };
            body.read_record = Some(build_access_event(
                &self.identity.signing,
                rand::random(),
                &record,
                now_ms(),
            ));
        }
        body
    }

    /// Asks one peer for `patient`'s records (his own, or those this key may read) and checks
    /// every one.
    pub async fn records_from(
        &self,
        peer: PublicKey,
        patient: &PublicKey,
    ) -> Result<Answer, PatientError> {
        self.learn_configuration(peer).await?;
        let challenge = self.challenge(peer).await?;
        let query = self.sign(&challenge, self.records_body(&challenge, patient));
        let body = self.send_query(peer, query).await?;
        self.check_records(peer, &body, patient)
    }

    /// Checks `peer`'s answer `body` (its signature already checked) about `patient`: every
    /// record ([`Verifier::check_answer`]) and its signed tips, at least one, each signed by a
    /// committer the network's CA certified ([`Verifier::signed_tip`]).
    pub fn check_records(
        &self,
        peer: PublicKey,
        body: &wire::QueryResultBody,
        patient: &PublicKey,
    ) -> Result<Answer, PatientError> {
        let verifier = self.verifier.lock().unwrap_or_else(|e| e.into_inner());
        let records = verifier.check_answer(body, patient)?;
        let signed = verifier.signed_tip(body)?;
        Ok(Answer {
            peer,
            tip: body.tip_height,
            signed_tip: signed.height,
            records,
        })
    }

    /// `patient`'s records: from the first peer whose answer verifies (a peer that fails is
    /// left for the next); then, when a second peer answers too, each answer is checked against
    /// the other and a left-out record is reported as [`ProofError::Omitted`].
    ///
    /// [`ProofError::Omitted`]: medblock_core::access::ProofError::Omitted
    pub async fn records(&self, patient: &PublicKey) -> Result<Answer, PatientError> {
        let peers = self.known_peers().await;
        let mut answers: Vec<Answer> = Vec::new();
        let mut failures = Vec::new();
        let mut denied = None;
        for p in peers {
            match self.records_from(p, patient).await {
                Ok(a) => {
                    answers.push(a);
                    if answers.len() == 2 {
                        break;
                    }
                }
                // A refusal is kept: it is the answer unless another peer (one further ahead,
                // e.g. already holding a new grant) answers.
                Err(PatientError::Denied(e)) => {
                    failures.push(format!("{p}: {e}"));
                    denied.get_or_insert(e);
                }
                Err(e) => {
                    tracing::warn!(peer = %p, error = %e, "answer failed; asking another peer");
                    failures.push(format!("{p}: {e}"));
                }
            }
        }
        if answers.len() == 2 {
            self.cross_check(&mut answers, patient).await?;
        }
        match (answers.into_iter().next(), denied) {
            (Some(a), _) => Ok(a),
            (None, Some(e)) => Err(PatientError::Denied(e)),
            (None, None) => Err(PatientError::NoPeer(failures.join("; "))),
        }
    }

    /// Checks every answer against the others: each must hold every record another proved at
    /// a height up to the highest signed tip verified over all of them (a certified
    /// committer's word, not the answering peer's). A peer found short is asked again, a
    /// second apart, up to [`CATCH_UP_RETRIES`] times (an honest peer a block behind catches
    /// up); still short, its omission is the error.
    pub async fn cross_check(
        &self,
        answers: &mut [Answer],
        patient: &PublicKey,
    ) -> Result<(), PatientError> {
        for i in 0..answers.len() {
            let mut tries = 0;
            while let Err(e) = omission_in(answers, i) {
                tries += 1;
                if tries > CATCH_UP_RETRIES {
                    return Err(e.into());
                }
                tracing::info!(error = %e, "an answer is short of the signed tip; asking again");
                tokio::time::sleep(Duration::from_secs(1)).await;
                let peer = answers
                    .get(i)
                    .map(|a| a.peer)
                    .ok_or(PatientError::Unexpected)?;
                if let (Ok(again), Some(slot)) =
                    (self.records_from(peer, patient).await, answers.get_mut(i))
                {
                    *slot = again;
                }
            }
        }
        Ok(())
    }

    /// The signed query for the full EMR of `record` (the pointer's `record_id`) over
    /// `challenge`: it names this visitor's sealing key, so the EMR comes back sealed to it
    /// and a peer relaying the answer reads nothing (the key is inside the signed body: no
    /// relay can swap in its own).
    pub fn emr_query(
        &self,
        challenge: &wire::Challenge,
        record: &CheckedRecord,
        record_id: &str,
    ) -> wire::SignedQuery {
        let b = &record.event.body;
        self.sign(
            challenge,
            wire::QueryBody {
                kind: wire::QueryKind::Emr as i32,
                patient_key: record.event.patient.as_bytes().to_vec(),
                hospital: b.hospital.clone(),
                department: b.department.clone(),
                sequence: b.sequence,
                record_id: record_id.to_owned(),
                sealing_key: self.identity.sealing.public().0.to_vec(),
                ..Default::default()
            },
        )
    }

    /// Checks `peer`'s answer to the EMR query `query` (signed by `peer`, for this query) and
    /// opens the EMR sealed to this visitor's key under the query's binding. A plaintext EMR
    /// is refused ([`ProofError::UnsealedEmr`]): it may have been read on the way. The caller
    /// still checks it against the ledger's hash.
    pub fn open_emr(
        &self,
        peer: PublicKey,
        query: &wire::SignedQuery,
        result: &wire::QueryResult,
    ) -> Result<Vec<u8>, PatientError> {
        let hash = query_hash(query);
        let body = verify_result(result, &peer, &hash)?;
        if !body.emr.is_empty() {
            return Err(ProofError::UnsealedEmr.into());
        }
        let sealed = body.sealed_emr.ok_or(ProofError::UnsealedEmr)?;
        let emr = open_sealed(&sealed, &emr_binding(&hash), &self.identity.sealing)
            .map_err(|e| ProofError::SealedEmr(e.to_string()))?;
        Ok(emr.to_vec())
    }

    /// Asks a hospital's department node for the full EMR of `record` (the pointer's
    /// `record_id`), proving the key over a fresh challenge; the EMR comes back sealed to this
    /// visitor ([`LightNode::emr_query`], [`LightNode::open_emr`]).
    pub async fn emr_from(
        &self,
        peer: PublicKey,
        record: &CheckedRecord,
        record_id: &str,
    ) -> Result<Vec<u8>, PatientError> {
        let challenge = self.challenge(peer).await?;
        let query = self.emr_query(&challenge, record, record_id);
        match self
            .request(peer, wire::net_request::Kind::Query(query.clone()))
            .await?
        {
            wire::net_response::Kind::Query(r) => self.open_emr(peer, &query, &r),
            _ => Err(PatientError::Unexpected),
        }
    }

    /// Uploads an access record (consent grant or revocation) through `peer`, which hands it to
    /// an endorser; returns the endorser's receipt.
    pub async fn upload_access(
        &self,
        peer: PublicKey,
        record: &wire::AccessRecord,
    ) -> Result<wire::Receipt, PatientError> {
        let event = build_access_event(&self.identity.signing, rand::random(), record, now_ms());
        self.upload_access_event(peer, event).await
    }

    /// Uploads an access record (consent grant or revocation, authorization revocation) through
    /// `peer` and checks the endorser's receipt for it ([`LightNode::check_receipt`]); returns
    /// the receipt's body and the event's hash.
    pub async fn upload_access_checked(
        &self,
        peer: PublicKey,
        record: &wire::AccessRecord,
    ) -> Result<(wire::ReceiptBody, medblock_core::Hash32), PatientError> {
        let event = build_access_event(&self.identity.signing, rand::random(), record, now_ms());
        let parsed = ParsedEvent::from_wire(event.clone())?;
        let receipt = self.upload_access_event(peer, event).await?;
        Ok((self.check_receipt(&receipt, &parsed)?, parsed.event_hash))
    }

    /// Uploads an access event already built (signed twice by this key) through `peer`;
    /// returns the endorser's receipt.
    pub async fn upload_access_event(
        &self,
        peer: PublicKey,
        event: wire::Event,
    ) -> Result<wire::Receipt, PatientError> {
        match self
            .request(
                peer,
                wire::net_request::Kind::AccessUpload(wire::AccessUpload { event: Some(event) }),
            )
            .await?
        {
            wire::net_response::Kind::Receipt(r) => Ok(r),
            _ => Err(PatientError::Unexpected),
        }
    }

    /// Checks an endorser's receipt for `event`: signed (purpose receipt) by a key genesis
    /// certifies as an endorser, for this event's hash and name.
    pub fn check_receipt(
        &self,
        receipt: &wire::Receipt,
        event: &ParsedEvent,
    ) -> Result<wire::ReceiptBody, PatientError> {
        let bad = |r: String| PatientError::BadReceipt(r);
        let body = wire::ReceiptBody::decode(receipt.body.as_slice())
            .map_err(|e| bad(format!("body does not decode: {e}")))?;
        let endorser = PublicKey::from_slice(&body.endorser_key)
            .map_err(|e| bad(format!("endorser key: {e}")))?;
        let cert = self
            .genesis
            .trust
            .get(&endorser)
            .ok_or_else(|| bad(format!("{endorser} has no certificate in genesis")))?;
        if !cert.has_role(wire::Role::Endorser) {
            return Err(bad(format!("{endorser} is not certified as an endorser")));
        }
        let signature = Signature::from_slice(&receipt.signature)
            .map_err(|e| bad(format!("signature: {e}")))?;
        endorser
            .verify(purpose::RECEIPT, &receipt.body, &signature)
            .map_err(|_| bad("the endorser's signature does not verify".into()))?;
        let b = &event.body;
        if body.event_hash != event.event_hash.as_bytes().as_slice()
            || body.hospital != b.hospital
            || body.department != b.department
            || body.sequence != b.sequence
        {
            return Err(bad("it names another event".into()));
        }
        Ok(body)
    }

    /// The keys of the department nodes that may hold the EMRs of `hospital`, as genesis
    /// certifies them (role client, that hospital): nodes first (a certificate naming a libp2p
    /// peer id; a department key a node holds besides its own names none), among them the
    /// record's provider first, then the record's department, then the hospital's others.
    pub fn emr_holders(
        &self,
        hospital: &str,
        department: &str,
        provider: &PublicKey,
    ) -> Vec<PublicKey> {
        let mut certs: Vec<_> = self
            .genesis
            .trust
            .certificates()
            .filter(|c| c.has_role(wire::Role::Client) && c.body.hospital == hospital)
            .collect();
        certs.sort_by_key(|c| {
            (
                c.body.peer_id.is_empty(),
                c.key != *provider,
                c.body.department != department,
                c.body.serial,
            )
        });
        certs.iter().map(|c| c.key).collect()
    }

    /// Finds the node that keeps `record`'s EMR (`record_id` at `hospital`, from the record's
    /// pointer) and fetches it: each node genesis certifies for that hospital is asked in
    /// turn (the light node dials it through the addresses its peers and Kademlia gave),
    /// again until `patience` runs out while discovery goes on. A node that answers it keeps
    /// no such record is passed over; the last refusal is the error when none has it.
    pub async fn find_emr(
        &self,
        record: &CheckedRecord,
        hospital: &str,
        record_id: &str,
        patience: Duration,
    ) -> Result<(PublicKey, Vec<u8>), PatientError> {
        let holders = self.emr_holders(
            hospital,
            &record.event.body.department,
            &record.event.provider,
        );
        if holders.is_empty() {
            return Err(PatientError::NoPeer(format!(
                "genesis certifies no department node of hospital {hospital:?}"
            )));
        }
        let deadline = tokio::time::Instant::now() + patience;
        let mut denied: Option<PatientError> = None;
        let mut failures: Vec<String>;
        loop {
            failures = Vec::new();
            let mut unreachable = false;
            for &peer in &holders {
                match self.emr_from(peer, record, record_id).await {
                    Ok(emr) => return Ok((peer, emr)),
                    Err(PatientError::Denied(AccessError::NoSuchRecord(m))) => {
                        failures.push(format!("{peer}: no such record ({m})"));
                    }
                    Err(e @ PatientError::Denied(_)) => {
                        failures.push(format!("{peer}: {e}"));
                        denied = Some(e);
                    }
                    Err(e) => {
                        tracing::debug!(peer = %peer, error = %e, "EMR holder not reached");
                        failures.push(format!("{peer}: {e}"));
                        unreachable = true;
                        self.look_up(peer).await;
                    }
                }
            }
            if let Some(e) = denied {
                return Err(e);
            }
            if !unreachable || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(PatientError::NoPeer(format!(
            "no node of hospital {hospital} gave the EMR {record_id}: {}",
            failures.join("; ")
        )))
    }

    /// Looks `peer` up in the DHT and dials the first address found, so the next request to
    /// it can reach it (a node the light node was not connected to and Kademlia had not told it
    /// about yet).
    async fn look_up(&self, peer: PublicKey) {
        let found = tokio::time::timeout(self.timeout, self.net.find_peer(peer)).await;
        let Ok(Ok(addrs)) = found else {
            return;
        };
        tracing::debug!(%peer, addrs = addrs.len(), "looked up in the DHT");
        for a in addrs {
            if self.net.dial(a).await.is_ok() {
                return;
            }
        }
    }

    /// Learns from `peer` the configuration blocks above those already known (membership,
    /// certificates and revocations at each height), each checked before it counts: records in
    /// blocks certified by orderers that joined after genesis then verify, and a primary
    /// revoked below a block does not. A peer that withholds them only makes its own answers
    /// fail to verify; one that serves a head that does not check is refused
    /// ([`PatientError::Proof`]).
    pub async fn learn_configuration(&self, peer: PublicKey) -> Result<usize, PatientError> {
        let mut learned = 0;
        loop {
            let from = self
                .verifier
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .configuration_height()
                + 1;
            // A peer that does not serve them (an older node, a refusal, no answer) teaches
            // nothing: its answers are then checked against what is known, and fail if they
            // need more. Heads it does serve must check, or its answer is refused.
            let heads = match self
                .request(
                    peer,
                    wire::net_request::Kind::Headers(wire::HeadersRequest {
                        from_height: from,
                        count: 256,
                        configuration: true,
                    }),
                )
                .await
            {
                Ok(wire::net_response::Kind::Headers(h)) => h.heads,
                Ok(_) | Err(_) => return Ok(learned),
            };
            if heads.is_empty() {
                return Ok(learned);
            }
            let n = self
                .verifier
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .learn_configuration(&heads)?;
            if n == 0 {
                return Ok(learned);
            }
            learned += n;
        }
    }

    /// Public block heads from `peer`.
    pub async fn headers(
        &self,
        peer: PublicKey,
        from_height: u64,
        count: u32,
    ) -> Result<wire::HeadersResponse, PatientError> {
        match self
            .request(
                peer,
                wire::net_request::Kind::Headers(wire::HeadersRequest {
                    from_height,
                    count,
                    configuration: false,
                }),
            )
            .await?
        {
            wire::net_response::Kind::Headers(h) => Ok(h),
            _ => Err(PatientError::Unexpected),
        }
    }
}

/// Whether answer `i` of `answers` left out a record another answer proved, at a height up to
/// the highest signed tip verified over all of them ([`Answer::signed_tip`]; the answering
/// peers' own `tip` is not used).
pub fn omission_in(answers: &[Answer], i: usize) -> Result<(), ProofError> {
    let must_cover = answers.iter().map(|a| a.signed_tip).max().unwrap_or(0);
    let Some(a) = answers.get(i) else {
        return Ok(());
    };
    for (j, b) in answers.iter().enumerate() {
        if j != i {
            find_omission(&a.peer.to_hex(), must_cover, &a.records, &b.records)?;
        }
    }
    Ok(())
}

/// Checks every answer against the others ([`omission_in`]).
pub fn check_coverage(answers: &[Answer]) -> Result<(), ProofError> {
    (0..answers.len()).try_for_each(|i| omission_in(answers, i))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A light node answers no requests and forwards no gossip.
async fn pump(net: NetworkHandle, events: NetworkEvents) {
    let NetworkEvents {
        mut consensus,
        mut other,
        mut light,
    } = events;
    loop {
        let ev = tokio::select! {
            Some(ev) = consensus.recv() => ev,
            Some(ev) = other.recv() => ev,
            Some(ev) = light.recv() => ev,
            else => break,
        };
        match ev {
            NetworkEvent::Request { token, .. } => {
                let resp = wire::NetResponse {
                    kind: Some(wire::net_response::Kind::Error(wire::ErrorReply {
                        code: Code::Unauthorized as i32,
                        message: "a light node answers no requests".into(),
                    })),
                };
                let _ = net.respond(token, resp).await;
            }
            NetworkEvent::Gossip { id, .. } => net.report_gossip(id, Verdict::Ignore).await,
            _ => {}
        }
    }
}
