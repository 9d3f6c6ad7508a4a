//! The peers this node admitted (see [`crate::handshake`]) and what each announced: the book
//! every actor reads through the node's shared context.

use medblock_core::keys::PublicKey;
use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

/// What is known of one admitted peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEntry {
    /// Its certificate name.
    pub name: String,
    /// Its region.
    pub region: String,
    /// Its roles by name.
    pub roles: Vec<String>,
    /// Its certificate serial (to drop it when revoked).
    pub serial: u64,
    /// Height it announced.
    pub height: u64,
    /// Where it serves HTTP.
    pub http: String,
}

/// Admitted peers by key.
#[derive(Debug, Default)]
pub struct PeerBook {
    admitted: RwLock<HashMap<PublicKey, PeerEntry>>,
    /// Peers demoted for claiming heights they did not serve, until when (ms): the committer
    /// decides (see `committer/actor/catchup.rs`), every actor that picks a peer to catch up
    /// from reads it.
    demoted: RwLock<HashMap<PublicKey, u64>>,
    /// Admitted peers whose connection is open but who stopped answering pings (a paused or
    /// wedged process): still admitted (what they sent before, or send once they answer
    /// again, is theirs), but neither waited for nor asked for anything meanwhile.
    unresponsive: RwLock<HashSet<PublicKey>>,
}

impl PeerBook {
    /// Whether `key` passed the handshake and was not revoked since.
    pub fn is_admitted(&self, key: &PublicKey) -> bool {
        self.admitted
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(key)
    }

    /// Whether `key` is admitted and answering (see [`PeerBook::set_unresponsive`]): the test
    /// for whether the node can count on it now.
    pub fn is_reachable(&self, key: &PublicKey) -> bool {
        self.is_admitted(key) && !self.is_unresponsive(key)
    }

    /// Whether `key` stopped answering (it may be admitted or not).
    pub fn is_unresponsive(&self, key: &PublicKey) -> bool {
        self.unresponsive
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
    }

    /// Records that admitted peer `key` stopped answering (`true`) or answers again
    /// (`false`). Returns whether that changed anything: a peer not admitted is never marked.
    pub fn set_unresponsive(&self, key: &PublicKey, unresponsive: bool) -> bool {
        let admitted = self.admitted.read().unwrap_or_else(|e| e.into_inner());
        let mut set = self.unresponsive.write().unwrap_or_else(|e| e.into_inner());
        if unresponsive {
            admitted.contains_key(key) && set.insert(*key)
        } else {
            set.remove(key)
        }
    }

    /// Every admitted peer.
    pub fn all(&self) -> Vec<(PublicKey, PeerEntry)> {
        let map = self.admitted.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = map.iter().map(|(k, e)| (*k, e.clone())).collect();
        v.sort_by(|a, b| a.1.name.cmp(&b.1.name));
        v
    }

    /// Keys of every admitted peer.
    pub fn keys(&self) -> Vec<PublicKey> {
        self.admitted
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect()
    }

    /// Records a new height announced by a peer.
    pub fn set_height(&self, key: &PublicKey, height: u64) {
        if let Some(e) = self
            .admitted
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(key)
        {
            e.height = e.height.max(height);
        }
    }

    /// Records that `key` is not to be asked for catch-up before `until_ms`.
    pub fn demote(&self, key: &PublicKey, until_ms: u64) {
        self.demoted
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(*key, until_ms);
    }

    /// Whether `key` is demoted at `now_ms` (see [`PeerBook::demote`]).
    pub fn is_demoted(&self, key: &PublicKey, now_ms: u64) -> bool {
        self.demoted
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .is_some_and(|until| now_ms < *until)
    }

    /// Forgets a peer (disconnected or revoked).
    pub fn remove(&self, key: &PublicKey) -> Option<PeerEntry> {
        self.unresponsive
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        self.admitted
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key)
    }

    /// Removes every peer whose certificate serial is revoked; returns their keys.
    pub fn drop_revoked(&self, is_revoked: impl Fn(u64) -> bool) -> Vec<PublicKey> {
        let mut map = self.admitted.write().unwrap_or_else(|e| e.into_inner());
        let gone: Vec<PublicKey> = map
            .iter()
            .filter(|(_, e)| is_revoked(e.serial))
            .map(|(k, _)| *k)
            .collect();
        let mut unresponsive = self.unresponsive.write().unwrap_or_else(|e| e.into_inner());
        for k in &gone {
            map.remove(k);
            unresponsive.remove(k);
        }
        gone
    }

    /// Admits `key` (the handshake passed), or updates what it announced.
    pub(crate) fn insert(&self, key: PublicKey, entry: PeerEntry) {
        self.admitted
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medblock_core::keys::SigningKey;

    fn key(seed: u8) -> PublicKey {
        SigningKey::from_bytes(&[seed; 32])
            .unwrap_or_else(|e| panic!("test key: {e}"))
            .public()
    }

    fn entry() -> PeerEntry {
        PeerEntry {
            name: "orderer-1".into(),
            region: "north".into(),
            roles: vec!["orderer".into()],
            serial: 1,
            height: 0,
            http: String::new(),
        }
    }

    #[test]
    fn an_unresponsive_peer_stays_admitted_but_is_not_reachable_until_it_answers() {
        let book = PeerBook::default();
        let (a, stranger) = (key(1), key(2));
        book.insert(a, entry());
        assert!(book.is_reachable(&a));
        // Only admitted peers are marked, each once.
        assert!(!book.set_unresponsive(&stranger, true));
        assert!(book.set_unresponsive(&a, true));
        assert!(!book.set_unresponsive(&a, true));
        assert!(book.is_admitted(&a) && !book.is_reachable(&a));
        assert!(book.set_unresponsive(&a, false));
        assert!(book.is_reachable(&a));
        assert!(!book.set_unresponsive(&a, false));
        // Forgetting a peer forgets that it was quiet: admitted again, it is reachable.
        book.set_unresponsive(&a, true);
        book.remove(&a);
        book.insert(a, entry());
        assert!(book.is_reachable(&a));
    }
}
