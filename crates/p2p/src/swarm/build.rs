//! Building the swarm: transport, behaviours and their configuration, then the task.

use super::*;

/// Starts the network: builds the swarm, starts listening, dials the bootstrap peers and
/// spawns the swarm task on the current tokio runtime. Returns once the listener is up (its
/// address is in `NetworkHandle::listen_addrs`). Must be called within a tokio runtime.
pub async fn spawn(cfg: P2pConfig) -> Result<(NetworkHandle, NetworkEvents), P2pError> {
    cfg.validate()?;
    let listen: Multiaddr = parse_addr(&cfg.listen)?;
    let bootstrap = cfg
        .bootstrap
        .iter()
        .map(|a| parse_addr(a))
        .collect::<Result<Vec<_>, _>>()?;
    let key = keypair(&cfg.signing_key)?;
    let local_key = cfg.signing_key.public();
    let local_peer = key.public().to_peer_id();
    let counters = Arc::new(Counters::default());

    // Unsigned, content-addressed gossip: every MedBlock gossip payload carries its own
    // signature (blocks a commit certificate, ledger claims and consensus messages their
    // signer's, revocation lists the CA's), so gossipsub's per-message signature only repeated
    // that work: every receiver re-hashed every copy of every block to check it (a fifth of a
    // loaded testnet's CPU). Authorship is the payload's business; the forwarding neighbour is
    // known from the noise handshake.
    let gossip_cfg = gossipsub::ConfigBuilder::default()
        .max_transmit_size(cfg.max_message_bytes.saturating_add(GOSSIP_OVERHEAD))
        .validate_messages()
        .validation_mode(ValidationMode::Anonymous)
        .message_id_fn(content_id)
        .heartbeat_interval(Duration::from_secs(1))
        // A block is published by each replica of its committee: flooding each copy to every
        // peer sent a loaded 10-node network up to 4 × 9 copies of each block before the mesh
        // even forwarded it. Publishing to the mesh and a mesh of 4 (a permissioned network of
        // tens of nodes, every one a known, scored peer) still reach everyone within a few
        // hops, and a node that misses a block catches up by request-response anyway.
        .flood_publish(false)
        .mesh_n(GOSSIP_MESH)
        .mesh_n_low(GOSSIP_MESH - 1)
        .mesh_n_high(2 * GOSSIP_MESH)
        .mesh_outbound_min(GOSSIP_MESH / 2 - 1)
        .gossip_lazy(GOSSIP_LAZY)
        .gossip_factor(0.0)
        .history_gossip(1)
        // Peers we already have a block from are told not to send it again.
        .idontwant_on_publish(true)
        .build()
        .map_err(|e| P2pError::InvalidConfig(format!("gossipsub: {e}")))?;
    let mut gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossip_cfg)
        .map_err(|e| P2pError::InvalidConfig(format!("gossipsub: {e}")))?;
    gossipsub
        .with_peer_score(score_params(), gossipsub::PeerScoreThresholds::default())
        .map_err(|e| P2pError::InvalidConfig(format!("gossipsub scoring: {e}")))?;

    let mut kad_cfg = kad::Config::new(KAD_PROTOCOL);
    kad_cfg.set_periodic_bootstrap_interval(Some(cfg.discovery_interval));
    kad_cfg.set_query_timeout(Duration::from_secs(30));
    let mut kad = kad::Behaviour::with_config(
        local_peer,
        kad::store::MemoryStore::new(local_peer),
        kad_cfg,
    );
    kad.set_mode(Some(if cfg.kademlia_server {
        kad::Mode::Server
    } else {
        kad::Mode::Client
    }));

    let identify = identify::Behaviour::new(
        identify::Config::new(IDENTIFY_VERSION.into(), key.public())
            .with_agent_version(format!("medblock/{}", env!("CARGO_PKG_VERSION")))
            .with_push_listen_addr_updates(true),
    );

    // The node protocol reads up to `max_message_bytes` from admitted peers and only a Hello's
    // worth from anyone else (see `bound`).
    let admitted: Arc<RwLock<HashSet<PeerId>>> = Arc::default();
    let binding = Arc::new(Mutex::new(None));
    let roles = Roles {
        admitted: admitted.clone(),
        unadmitted_max: cfg.max_unadmitted_request_bytes,
        binding: binding.clone(),
    };
    let reqres = PeerBound::new(
        request_response::Behaviour::with_codec(
            ProstCodec::new(cfg.max_message_bytes, counters.clone()).with_roles(roles),
            [(PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(cfg.request_timeout)
                .with_max_concurrent_streams(cfg.max_concurrent_streams),
        ),
        binding,
    );

    // Light nodes and visitors speak only this one: small requests, its own limits and channel.
    let light = request_response::Behaviour::with_codec(
        ProstCodec::with_limits(
            cfg.max_light_request_bytes.min(cfg.max_message_bytes),
            cfg.max_message_bytes,
            counters.clone(),
        ),
        [(LIGHT_PROTOCOL, ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(cfg.request_timeout)
            .with_max_concurrent_streams(cfg.light_in_flight_per_peer.saturating_mul(4)),
    );
    let limits = limits::Limits::new(
        cfg.members.clone(),
        cfg.max_connections,
        cfg.max_connections_per_peer,
        cfg.max_pending_incoming,
    );

    // A long ping timeout: a late pong still counts (the pong deadline in `liveness` is what
    // judges a peer), and a timed-out ping would cost a renegotiated stream.
    let ping = pings::Pings::new(
        ping::Behaviour::new(
            ping::Config::new()
                .with_interval(cfg.ping_interval)
                .with_timeout(PING_TIMEOUT),
        ),
        cfg.unpinged.clone(),
    );
    let behaviour = Behaviour {
        ban: allow_block_list::Behaviour::default(),
        limits,
        gossipsub,
        kad,
        identify,
        reqres,
        light,
        ping,
    };
    let idle = cfg.idle_timeout;
    let streams = cfg.max_concurrent_streams;
    let yamux_cfg = move || {
        // Room for every request-response stream both ways, plus gossipsub, Kademlia
        // and identify; yamux's own default (512) would otherwise refuse streams first.
        let mut y = yamux::Config::default();
        y.set_max_num_streams(streams.saturating_mul(2).saturating_add(256));
        y
    };
    let mut swarm = match cfg.latency.clone() {
        None => libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux_cfg,
            )
            .map_err(|e| P2pError::Transport(e.to_string()))?
            .with_dns()
            .map_err(|e| P2pError::Transport(format!("dns: {e}")))?
            .with_behaviour(|_| behaviour)
            .map_err(|e| P2pError::Transport(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build(),
        // The same TCP + noise + yamux stack, each raw connection wrapped in the emulated
        // delay of its remote host (see crate::latency).
        Some(latency) => {
            let noise = noise::Config::new(&key).map_err(|e| P2pError::Transport(e.to_string()))?;
            libp2p::SwarmBuilder::with_existing_identity(key)
                .with_tokio()
                .with_other_transport(|_| {
                    use libp2p::Transport;
                    tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
                        .map(move |stream, endpoint| {
                            crate::latency::Delayed::new(stream, latency.for_endpoint(&endpoint))
                        })
                        .upgrade(libp2p::core::upgrade::Version::V1)
                        .authenticate(noise)
                        .multiplex(yamux_cfg())
                })
                .map_err(|e| P2pError::Transport(e.to_string()))?
                .with_dns()
                .map_err(|e| P2pError::Transport(format!("dns: {e}")))?
                .with_behaviour(|_| behaviour)
                .map_err(|e| P2pError::Transport(e.to_string()))?
                .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
                .build()
        }
    };

    if cfg.gossip {
        for topic in Topic::ALL {
            swarm
                .behaviour_mut()
                .gossipsub
                .subscribe(&topic.ident())
                .map_err(|e| P2pError::InvalidConfig(format!("subscribe {topic}: {e}")))?;
        }
    }

    let listen_err = |reason: String| P2pError::Listen {
        addr: cfg.listen.clone(),
        reason,
    };
    swarm
        .listen_on(listen)
        .map_err(|e| listen_err(e.to_string()))?;
    let first = tokio::time::timeout(LISTEN_WAIT, async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::NewListenAddr { address, .. } => return Ok(address),
                SwarmEvent::ListenerClosed { reason, .. } => {
                    return Err(match reason {
                        Err(e) => e.to_string(),
                        Ok(()) => "listener closed".to_string(),
                    });
                }
                SwarmEvent::ListenerError { error, .. } => return Err(error.to_string()),
                _ => {}
            }
        }
    })
    .await
    .map_err(|_| listen_err("no listen address reported in time".into()))?
    .map_err(listen_err)?;
    info!(addr = %first, peer = %local_key, "p2p listening");
    let listen_addrs = vec![with_p2p(&first, local_peer)];

    for addr in &bootstrap {
        if let Some(Protocol::P2p(peer)) = addr.iter().last() {
            let mut plain = addr.clone();
            plain.pop();
            swarm.behaviour_mut().kad.add_address(&peer, plain);
        }
        if let Err(e) = swarm.dial(addr.clone()) {
            warn!(%addr, error = %e, "could not dial bootstrap peer");
        }
    }
    // Fails only when no bootstrap peer had a /p2p/ id; identify seeds Kademlia later then.
    let _ = swarm.behaviour_mut().kad.bootstrap();

    let (cmd_tx, cmd_rx) = mpsc::channel(cfg.command_capacity);
    let (consensus_tx, consensus_rx) = mpsc::channel(cfg.event_capacity);
    let (other_tx, other_rx) = mpsc::channel(cfg.event_capacity);
    let (light_tx, light_rx) = mpsc::channel(cfg.light_capacity);
    let shared = Arc::new(Shared {
        local_key,
        listen_addrs: Mutex::new(listen_addrs),
        counters,
        max_message_bytes: cfg.max_message_bytes,
        request_timeout: cfg.request_timeout,
        isolated: Default::default(),
        cut: Default::default(),
        target_peers: cfg.target_peers,
    });
    let task = SwarmTask {
        swarm,
        local_peer,
        commands: cmd_rx,
        consensus: consensus_tx,
        other: other_tx,
        light: light_tx,
        shared: shared.clone(),
        gate: Gate::new(
            cfg.handshake_timeout,
            cfg.light_in_flight_per_peer,
            cfg.uploads_in_flight_per_peer,
        ),
        inbound: HashMap::new(),
        admitted,
        pending_requests: HashMap::new(),
        pending_dials: HashMap::new(),
        pending_finds: HashMap::new(),
        peers: HashMap::new(),
        target_peers: cfg.target_peers,
        bootstrap,
        liveness: liveness::Liveness::new(cfg.unresponsive_after),
        check_by: None,
        isolation: None,
        stop: None,
    };
    tokio::spawn(task.run());
    Ok((
        NetworkHandle {
            commands: cmd_tx,
            shared,
        },
        NetworkEvents {
            consensus: consensus_rx,
            other: other_rx,
            light: light_rx,
        },
    ))
}

/// A gossip message's id is a hash of its topic and payload, so the same payload published by
/// several nodes (or re-published) travels as one message and is forwarded once.
fn content_id(message: &gossipsub::Message) -> gossipsub::MessageId {
    let id = medblock_core::hash::tagged_hash(
        "medblock/gossip-id/v1",
        &[message.topic.as_str().as_bytes(), &message.data],
    );
    gossipsub::MessageId::new(id.as_bytes())
}

/// Gossipsub peer scoring that only punishes what the node reports: each `Verdict::Reject`
/// counts as an invalid delivery (score -10 x count², decaying by 10% a second), so a peer
/// stops receiving our gossip after one rejection, cannot publish to us after three and is
/// ignored entirely (graylisted) soon after. Delivery-rate and mesh-time terms are off, since
/// MedBlock topics are legitimately quiet for long stretches; IP colocation is off, since
/// membership is controlled by certificates and several nodes may share a hospital NAT.
fn score_params() -> gossipsub::PeerScoreParams {
    let topic = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.9,
        ..Default::default()
    };
    gossipsub::PeerScoreParams {
        topics: Topic::ALL
            .into_iter()
            .map(|t| (t.ident().hash(), topic.clone()))
            .collect(),
        ip_colocation_factor_weight: 0.0,
        ..Default::default()
    }
}
