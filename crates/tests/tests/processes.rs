//! The first network scenario with separate `medblock node run` processes, set up with the same
//! commands an operator types: `ca init`, `ca issue`, `ca genesis`, `node init`, `node run`,
//! `client enroll-bulk` (patients whose keys were made on their side), `client submit` and
//! `status --json`.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::bin::medblock as medblock_bin;

fn medblock(args: &[&str]) -> serde_json::Value {
    let out = Command::new(medblock_bin())
        .args(args)
        .output()
        .expect("medblock runs");
    assert!(
        out.status.success(),
        "medblock {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn status(http: &str) -> Option<serde_json::Value> {
    let out = Command::new(medblock_bin())
        .args(["status", "--node", &format!("http://{http}"), "--json"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

#[test]
fn separate_node_processes_commit_events_from_two_hospitals_and_agree() {
    let root = tempfile::tempdir().expect("dir");
    let root = root.path();
    let ca = root.join("ca");
    let ca_s = ca.to_str().expect("utf8");
    medblock(&[
        "ca",
        "init",
        "--dir",
        ca_s,
        "--regions",
        "region-1,region-2",
        "--json",
    ]);
    let nodes: Vec<(&str, &str, &str, &str, &str)> = vec![
        ("r1-endorser-a", "region-1", "endorser,committer", "", ""),
        ("r1-endorser-b", "region-1", "endorser,committer", "", ""),
        ("r2-endorser-a", "region-2", "endorser,committer", "", ""),
        ("r2-endorser-b", "region-2", "endorser,committer", "", ""),
        ("orderer-1", "region-1", "orderer,committer", "", ""),
        ("orderer-2", "region-1", "orderer,committer", "", ""),
        ("orderer-3", "region-2", "orderer,committer", "", ""),
        ("orderer-4", "region-2", "orderer,committer", "", ""),
        ("h1-cardiology", "region-1", "client", "h1", "cardiology"),
        ("h2-oncology", "region-2", "client", "h2", "oncology"),
    ];
    for (name, region, roles, hospital, dept) in &nodes {
        let dir = root.join(name);
        medblock(&[
            "ca",
            "issue",
            "--dir",
            ca_s,
            "--name",
            name,
            "--region",
            region,
            "--roles",
            roles,
            "--hospital",
            hospital,
            "--department",
            dept,
            "--node-dir",
            dir.to_str().expect("utf8"),
            "--json",
        ]);
    }
    let genesis = root.join("genesis.pb");
    medblock(&[
        "ca",
        "genesis",
        "--dir",
        ca_s,
        "--out",
        genesis.to_str().expect("utf8"),
        "--json",
    ]);

    let mut procs = Vec::new();
    let mut https = Vec::new();
    let mut bootstrap = String::new();
    for (i, (name, ..)) in nodes.iter().enumerate() {
        let dir = root.join(name);
        let p2p = free_port();
        let http = format!("127.0.0.1:{}", free_port());
        let listen = format!("/ip4/127.0.0.1/tcp/{p2p}");
        let mut args = vec![
            "node".to_string(),
            "init".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--genesis".into(),
            genesis.display().to_string(),
            "--listen".into(),
            listen.clone(),
            "--http".into(),
            http.clone(),
            "--json".into(),
        ];
        if i > 0 {
            args.push("--bootstrap".into());
            args.push(bootstrap.clone());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        medblock(&refs);
        // The operator issues the hospital system's API token (kept in the node's directory).
        let token = medblock(&[
            "node",
            "token",
            "create",
            "--dir",
            dir.to_str().expect("utf8"),
            "--name",
            "hospital-system",
            "--out",
            dir.join("api-token").to_str().expect("utf8"),
            "--json",
        ]);
        assert!(token["token"].is_null(), "the secret went to the file only");
        let log = std::fs::File::create(root.join(format!("{name}.log"))).expect("log");
        let child = Command::new(medblock_bin())
            .args(["node", "run", "--dir", dir.to_str().expect("utf8")])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("node process");
        procs.push(Proc(child));
        if i == 0 {
            // Wait for the first node's status to learn its PeerId.
            let deadline = Instant::now() + Duration::from_secs(30);
            let s = loop {
                if let Some(s) = status(&http) {
                    break s;
                }
                assert!(Instant::now() < deadline, "first node never answered");
                std::thread::sleep(Duration::from_millis(200));
            };
            let peer_id = s["peer_id"].as_str().expect("peer_id").to_owned();
            bootstrap = format!("{listen}/p2p/{peer_id}");
        }
        https.push(http);
    }
    let wait = |what: &str, secs: u64, cond: &dyn Fn(&[serde_json::Value]) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let st: Vec<serde_json::Value> = https.iter().filter_map(|h| status(h)).collect();
            if st.len() == https.len() && cond(&st) {
                return st;
            }
            if Instant::now() > deadline {
                let logs: String = nodes
                    .iter()
                    .take(2)
                    .map(|(n, ..)| {
                        std::fs::read_to_string(root.join(format!("{n}.log"))).unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
                    .join("\n----\n");
                panic!(
                    "timed out waiting for {what}: {st:?}\n{}",
                    &logs[logs.len().saturating_sub(4000)..]
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    let n = nodes.len();
    wait("a connected network with endorsers", 60, &|st| {
        st.iter().all(|s| {
            s["peers"].as_array().is_some_and(|p| p.len() + 1 >= n)
                && s["endorsers"]
                    .as_array()
                    .is_some_and(|e| e.iter().all(|r| !r["endorser"].is_null()))
        })
    });
    // A hospital system's pooled connection, idle for longer than a server's usual keep-alive
    // (actix's default is 5 s), must still be open when its next request goes: a server that
    // closes first makes that request fail without reaching the node.
    let idle_client = {
        let http = https[8].clone();
        std::thread::spawn(move || idle_connection_still_answers(&http, Duration::from_secs(7)))
    };
    // Each hospital enrols its 20 patients from a bulk file of enrolments they signed offline,
    // then submits a JSON file of visits through its department node.
    let submit = |http: &str, node: &str, prefix: &str, count: usize| {
        let token_file = root.join(node).join("api-token");
        let token_file = token_file.to_str().expect("utf8");
        let lines: Vec<String> = (0..20)
            .map(|k| {
                let patient = medblock_core::keys::Identity::generate(&mut rand::rng());
                common::enrol::bulk_line(&patient, prefix, &format!("{prefix}-{k}"))
            })
            .collect();
        let bulk = root.join(format!("{prefix}-patients.jsonl"));
        std::fs::write(&bulk, lines.join("\n")).expect("write");
        let enrolled = medblock(&[
            "client",
            "enroll-bulk",
            "--node",
            &format!("http://{http}"),
            bulk.to_str().expect("utf8"),
            "--api-token-file",
            token_file,
            "--json",
        ]);
        assert_eq!(enrolled["enrolled"], 20, "{enrolled}");
        let visits: Vec<serde_json::Value> = (0..count)
            .map(|i| serde_json::json!({"patient": format!("{prefix}-{}", i % 20), "diagnosis": format!("d{i}")}))
            .collect();
        let file = root.join(format!("{prefix}.json"));
        std::fs::write(&file, serde_json::to_vec(&visits).expect("json")).expect("write");
        let out = medblock(&[
            "client",
            "submit",
            "--node",
            &format!("http://{http}"),
            "--file",
            file.to_str().expect("utf8"),
            "--api-token-file",
            token_file,
            "--json",
        ]);
        out.as_array().map(|a| a.len()).unwrap_or(0)
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| submit(&https[8], "h1-cardiology", "h1", 150));
        let b = s.spawn(|| submit(&https[9], "h2-oncology", "h2", 150));
        (a.join().expect("h1"), b.join().expect("h2"))
    });
    assert_eq!(a + b, 300);
    let st = wait("every committer to agree", 60, &|st| {
        let c: Vec<&serde_json::Value> = st
            .iter()
            .filter(|s| {
                s["roles"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|x| x == "committer"))
            })
            .collect();
        let first = &c[0];
        first["counters"]["events_committed"].as_u64() == Some(300)
            && c.iter()
                .all(|s| s["ledger_hash"] == first["ledger_hash"] && s["height"] == first["height"])
    });
    assert!(
        st.iter()
            .all(|s| s["flagged"].as_array().is_some_and(|f| f.is_empty()))
    );
    let _ = Path::new(".");
    if let Err(e) = idle_client.join().expect("idle client thread") {
        panic!("an idle keep-alive connection was not served: {e}");
    }
}

/// `GET /livez` twice on one HTTP/1.1 connection, `idle` apart; both must be answered 200 (the
/// liveness route: what is tested is the connection, not the network's health).
fn idle_connection_still_answers(http: &str, idle: Duration) -> Result<(), String> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(http).map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let request = format!("GET /livez HTTP/1.1\r\nHost: {http}\r\n\r\n");
    for round in 0..2 {
        if round == 1 {
            std::thread::sleep(idle);
        }
        conn.write_all(request.as_bytes())
            .map_err(|e| format!("request {round}: {e}"))?;
        // The answer is small: read its head and its `{"status":"ok"}` body.
        let mut buf = [0u8; 1024];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") || !got.ends_with(b"}") {
            let n = conn
                .read(&mut buf)
                .map_err(|e| format!("answer {round}: {e}"))?;
            if n == 0 {
                return Err(format!("answer {round}: the node closed the connection"));
            }
            got.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
        if !got.starts_with(b"HTTP/1.1 200") {
            return Err(format!("answer {round}: {}", String::from_utf8_lossy(&got)));
        }
    }
    Ok(())
}
