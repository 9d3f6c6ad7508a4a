//! The libp2p node: one task owns the Swarm; the rest of the node talks to it through typed messages.
