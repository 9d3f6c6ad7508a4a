//! Fault injection on a real network of `medblock node run` processes (`testnet up`, 10 nodes:
//! 4 orderers, two regions with two endorser candidates each, a department in each region),
//! through the command people type: `medblock testnet perturb NODE ACTION [--for S]`.
//!
//! * A node cut off from its peers at the p2p layer answers `/healthz` 503 naming the `peers`
//!   check, and 200 again once reconnected and caught up (the admin route needs a token).
//! * A paused (SIGSTOP) primary endorser loses its turn and the network commits meanwhile;
//!   resumed, it catches up and every ledger agrees.
//! * One orderer partitioned for 10 s while visits commit: it falls behind, then catches up,
//!   is ready again, and every ledger agrees.
//! * A whole region (its orderer, endorser and department; three regions) partitioned for
//!   10 s with `testnet partition`: the other two regions commit meanwhile, the region's
//!   department records visits it cannot commit, and once healed those commit, the region
//!   catches up and every ledger agrees.
//!
//! The tests assert what happened (who was cut off, what committed, who caught up), with
//! generous time bounds; each holds the machine alone ([`alone`]) since three 10-process
//! networks at once on two cores would time each other out.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;

use common::bin::{Down, run};
use common::enrol::{get_json_with, post_json_with};

static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A 10-node testnet without demo traffic, stopped when dropped.
struct Net {
    dir: PathBuf,
    // Fields drop in order: the network is stopped (from its state file) before its
    // directory goes.
    _down: Down,
    _root: tempfile::TempDir,
}

impl Net {
    fn up() -> Self {
        Self::up_with(&[])
    }

    /// `testnet up` with 10 nodes and `extra` flags.
    fn up_with(extra: &[&str]) -> Self {
        let root = tempfile::tempdir().expect("dir");
        let dir = root.path().join("net");
        let down = Down(dir.clone());
        let d = dir.display().to_string();
        let mut args = vec![
            "testnet",
            "up",
            "--dir",
            &d,
            "--nodes",
            "10",
            "--traffic",
            "0",
            "--json",
        ];
        args.extend_from_slice(extra);
        run(&args);
        Self {
            dir,
            _down: down,
            _root: root,
        }
    }

    fn d(&self) -> String {
        self.dir.display().to_string()
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&run(&["testnet", "status", "--dir", &self.d(), "--json"]))
            .expect("status prints JSON")
    }

    fn node<'a>(s: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
        s["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["name"] == name))
            .unwrap_or_else(|| panic!("{name} not in status {s:#}"))
    }

    fn url(&self, name: &str) -> String {
        let s = self.status();
        format!(
            "http://{}",
            Self::node(&s, name)["http"].as_str().expect("http")
        )
    }

    fn perturb(&self, name: &str, action: &str, hold: Option<u64>) -> String {
        let d = self.d();
        let hold = hold.map(|h| h.to_string());
        let mut args = vec!["testnet", "perturb", name, action, "--dir", d.as_str()];
        if let Some(h) = &hold {
            args.extend(["--for", h.as_str()]);
        }
        run(&args)
    }

    /// `count` visits through department `url`, each answered once committed.
    fn submit(&self, url: &str, tag: &str, count: usize) {
        common::testnet_cli::submit(&self.dir, url, tag, count);
    }

    /// Polls `testnet status` until `cond` holds; fails with the last status and log tails.
    fn wait(&self, what: &str, limit: Duration, cond: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.status();
            if cond(&s) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {}s waiting for {what}: {s:#}\n{}",
                limit.as_secs(),
                logs_tail(&self.dir)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Every node answering, all at one height, tip and ledger hash, nobody flagged.
    fn wait_converged(&self, what: &str, at_least: u64) {
        self.wait(what, Duration::from_secs(120), |s| {
            s["agree"] == true
                && s["converged"] == true
                && s["nodes"].as_array().is_some_and(|n| {
                    n.len() == 10
                        && n.iter()
                            .all(|n| n["height"].as_u64().is_some_and(|h| h >= at_least))
                })
        });
    }
}

fn logs_tail(dir: &Path) -> String {
    let mut out = String::new();
    if let Ok(entries) = std::fs::read_dir(dir.join("logs")) {
        for e in entries.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let tail: String = text.lines().rev().take(8).collect::<Vec<_>>().join("\n");
            out.push_str(&format!("--- {}\n{tail}\n", e.path().display()));
        }
    }
    out
}

fn height_of(s: &serde_json::Value, name: &str) -> u64 {
    Net::node(s, name)["height"].as_u64().unwrap_or(0)
}

/// The highest height any node other than `except` reports.
fn others_height(s: &serde_json::Value, except: &str) -> u64 {
    s["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["name"] != except)
        .filter_map(|n| n["height"].as_u64())
        .max()
        .unwrap_or(0)
}

/// The highest turn in a network status.
fn st_turn(s: &serde_json::Value) -> u64 {
    s["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["turn"].as_u64())
        .max()
        .unwrap_or(0)
}

fn failed(body: &serde_json::Value) -> Vec<String> {
    body["failed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_owned))
        .collect()
}

/// Polls `url` until it answers `code`; its body then.
fn wait_code(url: &str, code: u16, limit: Duration) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    loop {
        let (got, body) = get_json_with(url, None);
        if got == code {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{url} still answers {got} after {}s, not {code}: {body:#}",
            limit.as_secs()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn healthz_fails_on_a_node_cut_off_from_its_peers_and_recovers_once_it_rejoined() {
    let _alone = alone();
    let net = Net::up();
    net.wait_converged("the network up", 1);
    let dept = "st-mary-cardiology";
    let url = net.url(dept);
    let other = net.url("riverside-radiology");

    // Healthy at first: every check passes, figures and no ledger content.
    let (code, body) = get_json_with(&format!("{url}/healthz"), None);
    assert_eq!(code, 200, "{body:#}");
    assert!(body["checks"]["peers"]["orderers_connected"].as_u64() >= Some(3));
    for secret in ["tip_hash", "ledger_hash", "patient", "diagnosis"] {
        assert!(!body.to_string().contains(secret), "{secret} in {body}");
    }
    assert_eq!(get_json_with(&format!("{url}/readyz"), None).0, 200);
    assert_eq!(get_json_with(&format!("{url}/livez"), None).0, 200);

    // The admin route is not public.
    let (code, _) = post_json_with(
        &format!("{url}/admin/p2p/disconnect"),
        &serde_json::json!({}),
        None,
    );
    assert_eq!(code, 401, "disconnect without a token");
    assert_eq!(get_json_with(&format!("{url}/healthz"), None).0, 200);

    // Cut off: /healthz and /readyz 503 naming the peers check; /livez still 200.
    net.perturb(dept, "disconnect", None);
    let body = wait_code(&format!("{url}/healthz"), 503, Duration::from_secs(10));
    assert!(failed(&body).contains(&"peers".to_owned()), "{body:#}");
    assert_eq!(
        body["checks"]["peers"]["p2p_disconnected"], true,
        "{body:#}"
    );
    assert_eq!(body["checks"]["peers"]["orderers_connected"], 0, "{body:#}");
    let (code, ready) = get_json_with(&format!("{url}/readyz"), None);
    assert_eq!(code, 503, "{ready:#}");
    assert!(failed(&ready).contains(&"peers".to_owned()), "{ready:#}");
    assert_eq!(get_json_with(&format!("{url}/livez"), None).0, 200);

    // The rest of the network commits meanwhile; the cut-off node sees none of it.
    let before = height_of(&net.status(), dept);
    net.submit(&other, "while-cut-off", 10);
    let s = net.status();
    let others = others_height(&s, dept);
    assert!(others > before, "the network committed nothing: {s:#}");
    assert_eq!(
        height_of(&s, dept),
        before,
        "a node cut off from every peer still learned blocks: {s:#}"
    );
    // Still cut off a few seconds later (its peers' redials are refused).
    std::thread::sleep(Duration::from_secs(3));
    let (code, body) = get_json_with(&format!("{url}/healthz"), None);
    assert_eq!(code, 503, "{body:#}");
    let s = net.status();
    let cut = Net::node(&s, dept);
    assert_eq!(cut["peers"], 0, "{s:#}");
    // `testnet status` tells it answers (/livez) but is not healthy, and why.
    assert_eq!(cut["healthy"], true, "{s:#}");
    assert!(
        cut["health"].as_str().is_some_and(|h| h.contains("peers")),
        "{s:#}"
    );

    // Reconnected: healthy again only once connected and caught up.
    net.perturb(dept, "reconnect", None);
    let body = wait_code(&format!("{url}/healthz"), 200, Duration::from_secs(60));
    assert_eq!(
        body["checks"]["peers"]["p2p_disconnected"], false,
        "{body:#}"
    );
    // Healthy only knowing the height it missed, and within the allowed lag of it.
    let height = body["checks"]["height"]["height"].as_u64().unwrap_or(0);
    assert!(
        body["checks"]["height"]["best_known"].as_u64() >= Some(others)
            && height + medblock_node::health::MAX_LAG >= others,
        "healthy before catching up to {others}: {body:#}"
    );
    net.wait_converged("every ledger equal after the rejoin", others);

    // `kill --for 1`: a crash, then the restart by itself.
    let out = net.perturb(dept, "kill", Some(1));
    assert!(out.contains("kill for 1.0s, then restart"), "{out}");
    net.submit(&net.url(dept), "after-restart", 3);
    let s = net.status();
    net.wait_converged(
        "every ledger equal after the restart",
        others_height(&s, dept),
    );
}

#[test]
fn a_paused_primary_endorser_loses_its_turn_while_the_network_commits_and_catches_up_when_resumed()
{
    let _alone = alone();
    let net = Net::up();
    net.wait_converged("the network up", 1);
    let s = net.status();
    let nodes = s["nodes"].as_array().cloned().unwrap_or_default();
    let orderer = net.url("orderer-1");

    // Node names by key, from their own /status.
    let mut names = std::collections::HashMap::new();
    for n in &nodes {
        let url = format!("http://{}", n["http"].as_str().expect("http"));
        let (_, st) = get_json_with(&format!("{url}/status"), None);
        names.insert(
            st["key"].as_str().expect("key").to_owned(),
            n["name"].as_str().expect("name").to_owned(),
        );
    }

    // Pause the endorser that is primary now.
    let (_, st) = get_json_with(&format!("{orderer}/status"), None);
    let primary_key = st["primary"].as_str().expect("a primary").to_owned();
    let primary = names
        .get(&primary_key)
        .expect("the primary is a node")
        .clone();
    let region = Net::node(&s, &primary)["region"]
        .as_str()
        .expect("region")
        .to_owned();
    // Every node was at this height before the pause (the status above is converged).
    let height_at_pause = height_of(&s, &primary);
    net.perturb(&primary, "pause", None);
    // A paused process answers nothing, not even /livez.
    let paused = net.status();
    assert_eq!(Net::node(&paused, &primary)["healthy"], false, "{paused:#}");

    // The department of the other region records visits meanwhile.
    let dept = nodes
        .iter()
        .find(|n| n["roles"] == serde_json::json!(["client"]) && n["region"] != region.as_str())
        .and_then(|n| n["name"].as_str())
        .expect("a department in the other region")
        .to_owned();
    let dept_url = net.url(&dept);
    net.submit(&dept_url, "while-paused", 10);

    // It loses its turn: a turn it leads while paused ends without it and the rotation moves
    // on, or its region elects another endorser; its turns are not waited for forever.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut led: Option<u64> = None;
    loop {
        let (_, st) = get_json_with(&format!("{orderer}/status"), None);
        let turn = st["turn"].as_u64().unwrap_or(0);
        let replaced = turn > st_turn(&s)
            && st["endorsers"].as_array().is_some_and(|e| {
                e.iter().any(|r| {
                    r["region"] == region.as_str()
                        && r["endorser"].as_str().is_some_and(|k| k != primary_key)
                })
            });
        if st["primary"].as_str() == Some(primary_key.as_str()) {
            led = Some(led.map_or(turn, |t| t.max(turn)));
        } else if replaced || led.is_some_and(|t| turn > t) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the turns of paused {primary} never moved on (last turn {turn}, led {led:?}): {st:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // More visits commit while it is still paused: the network went on without it.
    net.submit(&dept_url, "after-its-turn", 5);
    let s = net.status();
    let others = others_height(&s, &primary);
    assert!(
        others > height_at_pause,
        "nothing committed while {primary} was paused: {s:#}"
    );
    assert_eq!(
        Net::node(&s, &primary)["healthy"],
        false,
        "{primary} was resumed early"
    );

    // Resumed: it catches up and every ledger agrees.
    net.perturb(&primary, "resume", None);
    net.wait_converged("the resumed endorser caught up", others);
}

#[test]
fn an_orderer_partitioned_for_ten_seconds_catches_up_and_every_ledger_agrees() {
    let _alone = alone();
    let net = Net::up();
    net.wait_converged("the network up", 1);
    let victim = "orderer-2";
    let url = net.url(victim);
    let depts = [
        net.url("st-mary-cardiology"),
        net.url("riverside-radiology"),
    ];
    let before = height_of(&net.status(), victim);

    // `perturb --for 10` blocks for the partition and reconnects by itself.
    let d = net.d();
    let partition = std::thread::spawn(move || {
        run(&[
            "testnet",
            "perturb",
            victim,
            "disconnect",
            "--for",
            "10",
            "--dir",
            &d,
        ])
    });
    let body = wait_code(&format!("{url}/healthz"), 503, Duration::from_secs(10));
    assert!(failed(&body).contains(&"peers".to_owned()), "{body:#}");

    // The three other orderers keep committing (f = 1 of 4).
    net.submit(&depts[1], "partition-riverside", 5);
    net.submit(&depts[0], "partition-st-mary", 5);
    let s = net.status();
    let others = others_height(&s, victim);
    // Still partitioned (the 10 s are not over unless committing took that long).
    let (code, _) = get_json_with(&format!("{url}/healthz"), None);
    if code == 503 {
        assert_eq!(
            height_of(&s, victim),
            before,
            "a partitioned orderer learned blocks: {s:#}"
        );
    }
    assert!(others > before, "the others committed nothing: {s:#}");
    let out = partition.join().expect("perturb thread");
    assert!(
        out.contains("disconnect for 10.0s, then reconnect"),
        "{out}"
    );

    // Healed: it catches up, is ready again, and every ledger agrees, also after more visits.
    net.wait_converged("the partitioned orderer caught up", others);
    wait_code(&format!("{url}/readyz"), 200, Duration::from_secs(60));
    net.submit(&depts[1], "after-partition", 5);
    let s = net.status();
    net.wait_converged(
        "every ledger equal after more visits",
        others_height(&s, victim).max(height_of(&s, victim)),
    );
}

#[test]
fn a_region_partitioned_for_ten_seconds_heals_its_visits_commit_and_every_ledger_agrees() {
    let _alone = alone();
    // Three regions: orderers 1 and 4 in region-1, 2 in region-2, 3 in region-3, so the
    // region cut off holds one orderer of four (f = 1) and the others keep a quorum.
    let net = Net::up_with(&["--regions", "3"]);
    net.wait_converged("the network up", 1);
    let s = net.status();
    let in_region = |r: &str| -> Vec<String> {
        s["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["region"] == r)
            .filter_map(|n| n["name"].as_str().map(str::to_owned))
            .collect()
    };
    let cut = in_region("region-3");
    let roles = |name: &str| Net::node(&s, name)["roles"].to_string();
    assert!(
        ["orderer", "endorser", "client"]
            .iter()
            .all(|r| cut.iter().any(|n| roles(n).contains(r))),
        "region-3 should hold an orderer, an endorser and a department: {cut:?} {s:#}"
    );
    let department = |region: &str| {
        in_region(region)
            .into_iter()
            .find(|n| roles(n).contains("client"))
            .unwrap_or_else(|| panic!("no department in {region}"))
    };
    let (d1, d2, d3) = (
        net.url(&department("region-1")),
        net.url(&department("region-2")),
        net.url(&department("region-3")),
    );

    // `partition region-3 --for 10` blocks for the partition and heals by itself.
    let d = net.d();
    let partition = std::thread::spawn(move || {
        run(&[
            "testnet",
            "partition",
            "region-3",
            "--for",
            "10",
            "--dir",
            &d,
        ])
    });
    let body = wait_code(&format!("{d3}/healthz"), 503, Duration::from_secs(10));
    assert!(failed(&body).contains(&"peers".to_owned()), "{body:#}");
    assert_eq!(body["checks"]["peers"]["p2p_partitioned"], true, "{body:#}");
    // Its side keeps its links: the department still reaches its region's orderer.
    assert!(
        body["checks"]["peers"]["orderers_connected"].as_u64() >= Some(1),
        "the department lost its own region: {body:#}"
    );

    // The region's department records visits; they wait for the partition to heal.
    let dir = net.dir.clone();
    let stranded =
        std::thread::spawn(move || common::testnet_cli::submit(&dir, &d3, "stranded", 3));
    // The other two regions commit meanwhile.
    net.submit(&d1, "region-partition-1", 5);
    net.submit(&d2, "region-partition-2", 5);
    let s = net.status();
    let cut_height = cut.iter().map(|n| height_of(&s, n)).max().unwrap_or(0);
    let others = s["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| !cut.iter().any(|c| n["name"] == c.as_str()))
        .filter_map(|n| n["height"].as_u64())
        .max()
        .unwrap_or(0);
    let (code, _) = get_json_with(&format!("{}/healthz", net.url(&cut[0])), None);
    if code == 503 {
        // Still partitioned (unless committing took the whole 10 s).
        assert!(
            others > cut_height,
            "the majority side did not move past the cut-off region: {s:#}"
        );
    }
    let out = partition.join().expect("partition thread");
    assert!(
        out.contains("partitioned region-3 for 10.0s, then healed"),
        "{out}"
    );

    // Healed: the stranded visits commit, the region catches up, every ledger agrees.
    stranded
        .join()
        .expect("the region's visits committed after the heal");
    let s = net.status();
    net.wait_converged(
        "the partitioned region caught up",
        s["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["height"].as_u64())
            .max()
            .unwrap_or(0),
    );
    for n in &cut {
        wait_code(
            &format!("{}/readyz", net.url(n)),
            200,
            Duration::from_secs(60),
        );
    }
}
