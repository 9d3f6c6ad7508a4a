//! `testnet up --hosts`: every node on its own host. Each node runs in its own Linux network
//! namespace with its own address on a virtual bridge, so nodes talk real TCP between hosts,
//! nothing is bound to 127.0.0.1, and a node is reached only at the address it announces.
//! One more namespace, the client host, is where light nodes (patients, the regulator) run.
//!
//! Needs root (or CAP_NET_ADMIN) and iproute2's `ip`. Names carry a random id so that two
//! testnets on one machine do not collide: bridge `mb<id>`, namespaces `mb<id>-<n>`, the
//! host side of each veth pair `mb<id>v<n>` (interface names are at most 15 bytes).

use crate::error::{Result, TestnetError};
use serde::{Deserialize, Serialize};
use std::process::{Command, Stdio};

/// Hosts a network of this many nodes may have (addresses .10 to .249 of the /24).
pub const MAX_HOSTS: usize = 240;
/// The client host's last address byte.
const CLIENT_HOST: u8 = 250;

/// The testnet's virtual network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostNet {
    /// The random id in every name.
    pub id: String,
    /// The /24 every host is on: `10.<a>.<b>` (the bridge is `.1`).
    pub subnet: String,
}

/// One host: a namespace and its address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// Network namespace.
    pub netns: String,
    /// Its address on the bridge.
    pub ip: String,
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| TestnetError::io("running ip (iproute2)", e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(TestnetError::Command {
            args: format!("ip {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

fn used_subnets() -> String {
    Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

impl HostNet {
    /// Creates the bridge on a /24 no interface of this machine uses yet.
    pub fn create() -> Result<Self> {
        let used = used_subnets();
        let id = format!("{:04x}", rand::random::<u16>());
        let subnet = (0..64)
            .map(|_| {
                format!(
                    "10.{}.{}",
                    200 + rand::random::<u8>() % 50,
                    rand::random::<u8>()
                )
            })
            .find(|s| !used.contains(&format!(" {s}.")))
            .ok_or_else(|| TestnetError::Invalid("no free 10.x.y.0/24 for the hosts".into()))?;
        let net = Self { id, subnet };
        net.bring_up().map_err(|e| {
            TestnetError::Invalid(format!(
                "cannot create the hosts' network (needs root or CAP_NET_ADMIN and iproute2): {e}"
            ))
        })?;
        Ok(net)
    }

    /// The bridge's name.
    pub fn bridge(&self) -> String {
        format!("mb{}", self.id)
    }

    fn bring_up(&self) -> Result<()> {
        let br = self.bridge();
        ip(&["link", "add", &br, "type", "bridge"])?;
        ip(&["addr", "add", &format!("{}.1/24", self.subnet), "dev", &br])?;
        ip(&["link", "set", &br, "up"])
    }

    /// Host `n` (0-based): created if missing, at `.10 + n`.
    pub fn host(&self, n: usize) -> Result<Host> {
        if n >= MAX_HOSTS {
            return Err(TestnetError::Invalid(format!(
                "at most {MAX_HOSTS} hosts on one bridge"
            )));
        }
        self.make(&n.to_string(), 10 + n as u8)
    }

    /// The client host, where light nodes run.
    pub fn client(&self) -> Result<Host> {
        self.make("c", CLIENT_HOST)
    }

    fn make(&self, suffix: &str, last: u8) -> Result<Host> {
        let host = Host {
            netns: format!("mb{}-{suffix}", self.id),
            ip: format!("{}.{last}", self.subnet),
        };
        if namespaces().contains(&host.netns) {
            return Ok(host);
        }
        let veth = format!("mb{}v{suffix}", self.id);
        let ns = host.netns.as_str();
        ip(&["netns", "add", ns])?;
        ip(&[
            "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", ns,
        ])?;
        ip(&["link", "set", &veth, "master", &self.bridge(), "up"])?;
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{}/24", host.ip),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        Ok(host)
    }

    /// Recreates the bridge if it is gone (after `testnet down`); hosts come back with
    /// [`HostNet::host`].
    pub fn ensure(&self) -> Result<()> {
        if Command::new("ip")
            .args(["link", "show", &self.bridge()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            return Ok(());
        }
        self.bring_up()
    }

    /// Deletes every namespace of this network and the bridge (their veth pairs go with them).
    pub fn destroy(&self) -> Result<()> {
        let prefix = format!("mb{}-", self.id);
        for ns in namespaces().into_iter().filter(|n| n.starts_with(&prefix)) {
            ip(&["netns", "del", &ns])?;
        }
        let _ = ip(&["link", "del", &self.bridge()]);
        Ok(())
    }
}

/// The names of this machine's network namespaces.
fn namespaces() -> Vec<String> {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
