//! The gossipsub topics MedBlock uses.

use libp2p::gossipsub::{IdentTopic, TopicHash};

/// One gossip topic. A closed enum so that no other crate can publish to (or subscribe the
/// node to) a topic the network does not know; every node subscribes to all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Decided blocks (`GossipMessage::decided`). Consensus-critical: delivered on the
    /// consensus channel, never dropped.
    Blocks,
    /// Committers' ledger claims (`GossipMessage::ledger_claim`). Best effort.
    Ledger,
    /// Consensus turns, beacons and elections (`GossipMessage::consensus`). Consensus-critical.
    Consensus,
    /// CA-signed configuration changes (`GossipMessage::config_change`) on their way to the
    /// endorsers that pack them. Best effort: a change is submitted again if never decided.
    Config,
}

impl Topic {
    /// Every topic, in a fixed order (the node subscribes to each at start).
    pub const ALL: [Topic; 4] = [
        Topic::Blocks,
        Topic::Ledger,
        Topic::Consensus,
        Topic::Config,
    ];

    /// The topic's name on the wire; versioned so a future incompatible format gets a new topic.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Blocks => "medblock/blocks/1",
            Topic::Ledger => "medblock/ledger/1",
            Topic::Consensus => "medblock/consensus/1",
            Topic::Config => "medblock/config/1",
        }
    }

    /// Whether messages on this topic go to the never-dropping consensus channel.
    pub fn is_consensus_critical(self) -> bool {
        matches!(self, Topic::Blocks | Topic::Consensus)
    }

    /// Parses a wire name back into a topic; `None` for topics MedBlock does not use.
    pub fn from_wire(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == name)
    }

    pub(crate) fn ident(self) -> IdentTopic {
        IdentTopic::new(self.as_str())
    }

    pub(crate) fn from_hash(hash: &TopicHash) -> Option<Topic> {
        Topic::from_wire(hash.as_str())
    }
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for t in Topic::ALL {
            assert_eq!(Topic::from_wire(t.as_str()), Some(t));
            assert_eq!(Topic::from_hash(&t.ident().hash()), Some(t));
        }
        assert_eq!(Topic::from_wire("medblock/other/1"), None);
    }
}
