//! A node's HTTP API as the tests reach it: served on 127.0.0.1 from its own thread, with an
//! API token the test issues as the node's operator would (`medblock node token create`: the
//! token store in the node's data directory, the secret written to the node's directory as
//! `api-token`, mode 0600). The helpers of [`super::enrol`] send the token of the node they
//! call, found here by URL, so tests read as before; `*_with` variants send another token or
//! none.

#![allow(dead_code)]

use super::cluster::{Cluster, node_dir};
use medblock_node::http::ApiAuth;
use medblock_node::tokens::{TokenStore, write_token_file};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Base URL → token, for every API this test process serves.
static TOKENS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

static ISSUED: AtomicUsize = AtomicUsize::new(0);

/// The token the tests send to the API at `url` (the longest served base URL it starts with).
pub fn token_for(url: &str) -> Option<String> {
    let tokens = TOKENS.lock().unwrap_or_else(|p| p.into_inner());
    tokens
        .iter()
        .filter(|(base, _)| url.starts_with(base.as_str()))
        .max_by_key(|(base, _)| base.len())
        .map(|(_, t)| t.clone())
}

/// The data directory of cluster node `name`.
pub fn data_dir(c: &Cluster, name: &str) -> PathBuf {
    node_dir(c.dir.path(), name).join("data")
}

/// The token store of cluster node `name`.
pub fn store(c: &Cluster, name: &str) -> TokenStore {
    TokenStore::in_data_dir(&data_dir(c, name))
}

/// `node_dir/api-token`: the file holding the token the tests issued for node `name`.
pub fn token_file(c: &Cluster, name: &str) -> PathBuf {
    node_dir(c.dir.path(), name).join("api-token")
}

/// Issues a new token at node `name` (as `medblock node token create` does).
pub fn issue(c: &Cluster, name: &str) -> String {
    let n = ISSUED.fetch_add(1, Ordering::Relaxed);
    store(c, name)
        .create(&format!("test-{n}"), medblock_actors::clock::now_ms())
        .expect("token created")
        .secret
}

/// Serves running node `name`'s HTTP API (what `medblock node run` serves, tokens and public
/// paths by default) on a free port; issues a token for the tests, registers it for the
/// [`super::enrol`] helpers and writes it to [`token_file`]. Returns the base URL.
pub fn serve(c: &Cluster, name: &str) -> String {
    let node = c.node(c.index(name)).node.clone();
    let auth = ApiAuth::for_data_dir(&data_dir(c, name));
    let token = issue(c, name);
    write_token_file(&token_file(c, name), &token).expect("token file");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            if let Ok(server) = medblock_node::http::serve(node, listener, auth) {
                let _ = server.await;
            }
        })
    });
    TOKENS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((url.clone(), token));
    url
}
