//! `[cluster]`: run on NATS JetStream instead of the embedded RocksDB alone.
//!
//! Without this section hookbus is one process with its own store. With it,
//! every durable row is written to a replicated JetStream stream before it
//! counts (a `202` waits for JetStream's acknowledgement), and the local
//! RocksDB under `storage.path` is only a cache any node can rebuild from
//! the stream (docs/CLUSTER.md).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Dur;

/// `[cluster]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// NATS servers to connect to (any of them; the client finds the rest).
    /// Required. Env `HOOKBUS_NATS_URLS` (comma-separated).
    pub nats_urls: Vec<String>,
    /// This node's name, unique in the cluster: it owns partition leases
    /// under it and labels its rows' origin. Default: the host name and the
    /// listen port. Env `HOOKBUS_NODE_NAME`.
    pub node_name: String,
    /// JetStream replicas of every stream and bucket (1, 3 or 5). Default 3.
    /// Env `HOOKBUS_CLUSTER_REPLICAS`.
    pub replicas: usize,
    /// Endpoint partitions, the unit of ownership. Default 64. Fixed once
    /// the cluster's streams exist. Env `HOOKBUS_CLUSTER_PARTITIONS`.
    pub partitions: usize,
    /// Prefix of the stream, bucket and subject names, so several hookbus
    /// clusters can share one NATS. Default `hookbus`.
    pub prefix: String,
    /// How long a partition lease lasts without a heartbeat: a dead node's
    /// endpoints move within about this long. Default 6 s.
    pub lease_ttl: Dur,
    /// How long a deleted row's tombstone stays in the stream. A node whose
    /// cache is older than half of this rebuilds it from the stream instead
    /// of catching up. Default 24 h.
    pub tombstone_ttl: Dur,
    /// Time to reach NATS (and each JetStream request's timeout). Default 5 s.
    pub connect_timeout: Dur,
    /// A NATS `.creds` file (JWT + nkey). Env `HOOKBUS_NATS_CREDS`.
    pub credentials_file: Option<PathBuf>,
    /// A NATS token. Env `HOOKBUS_NATS_TOKEN`.
    pub token: Option<String>,
    /// NATS user name (with `password`).
    pub user: Option<String>,
    /// NATS password (with `user`).
    pub password: Option<String>,
    /// CA certificate (PEM) to verify the servers with.
    pub tls_ca_file: Option<PathBuf>,
    /// Client certificate (PEM), for servers that require one (with `tls_key_file`).
    pub tls_cert_file: Option<PathBuf>,
    /// Client key (PEM).
    pub tls_key_file: Option<PathBuf>,
    /// Refuse to talk to a server without TLS. Default false.
    pub tls_required: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            nats_urls: Vec::new(),
            node_name: String::new(),
            replicas: 3,
            partitions: 64,
            prefix: "hookbus".into(),
            lease_ttl: Dur::secs(6),
            tombstone_ttl: Dur::secs(24 * 3600),
            connect_timeout: Dur::secs(5),
            credentials_file: None,
            token: None,
            user: None,
            password: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_required: false,
        }
    }
}

/// A name NATS accepts in a subject token, a stream name and a KV key.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl ClusterConfig {
    /// Problems, as config-file messages.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.nats_urls.is_empty() {
            out.push("cluster.nats_urls: at least one NATS server is needed".into());
        }
        for (i, u) in self.nats_urls.iter().enumerate() {
            let ok = url::Url::parse(u).is_ok_and(|u| {
                matches!(u.scheme(), "nats" | "tls" | "ws" | "wss") && u.host().is_some()
            });
            if !ok {
                out.push(format!(
                    "cluster.nats_urls[{i}]: `{u}` is not a server address like nats://127.0.0.1:4222"
                ));
            }
        }
        if !self.node_name.is_empty() && !is_token(&self.node_name) {
            out.push(
                "cluster.node_name: 1-64 letters, digits, `-` or `_` (it is a NATS key)".into(),
            );
        }
        if !matches!(self.replicas, 1 | 3 | 5) {
            out.push("cluster.replicas: must be 1, 3 or 5 (JetStream's odd quorums)".into());
        }
        if !(1..=1024).contains(&self.partitions) {
            out.push("cluster.partitions: must be between 1 and 1024".into());
        }
        if !is_token(&self.prefix) || self.prefix.len() > 32 {
            out.push("cluster.prefix: 1-32 letters, digits, `-` or `_`".into());
        }
        if self.lease_ttl.0 < std::time::Duration::from_secs(1)
            || self.lease_ttl.0 > std::time::Duration::from_secs(300)
        {
            out.push("cluster.lease_ttl: must be between 1 s and 5 min".into());
        }
        if self.tombstone_ttl.0 < std::time::Duration::from_secs(60) {
            out.push("cluster.tombstone_ttl: must be at least 1 min".into());
        }
        if self.connect_timeout.0.is_zero() {
            out.push("cluster.connect_timeout: must be more than 0".into());
        }
        if self.user.is_some() != self.password.is_some() {
            out.push("cluster.user and cluster.password: give both or neither".into());
        }
        let ways = [
            self.credentials_file.is_some(),
            self.token.is_some(),
            self.user.is_some(),
        ];
        if ways.iter().filter(|w| **w).count() > 1 {
            out.push(
                "cluster: give one of credentials_file, token or user/password, not several".into(),
            );
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            out.push("cluster.tls_cert_file and cluster.tls_key_file: give both or neither".into());
        }
        for (name, path) in [
            ("credentials_file", &self.credentials_file),
            ("tls_ca_file", &self.tls_ca_file),
            ("tls_cert_file", &self.tls_cert_file),
            ("tls_key_file", &self.tls_key_file),
        ] {
            if let Some(p) = path {
                if !p.is_file() {
                    out.push(format!(
                        "cluster.{name}: {} is not a readable file",
                        p.display()
                    ));
                }
            }
        }
        out
    }

    /// The node name to use: the configured one, or host name and port.
    pub fn node_name_or(&self, listen: &str) -> String {
        if !self.node_name.is_empty() {
            return self.node_name.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "node".into());
        let port = listen.rsplit(':').next().unwrap_or("0");
        let name: String = format!("{host}-{port}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        name
    }

    /// What the store needs to open in cluster mode.
    pub fn settings(&self, listen: &str) -> crate::store::ClusterSettings {
        crate::store::ClusterSettings {
            urls: self.nats_urls.clone(),
            node: self.node_name_or(listen),
            replicas: self.replicas,
            prefix: self.prefix.clone(),
            tombstone_ttl: self.tombstone_ttl.0,
            partitions: self.partitions as u32,
            lease_ttl: self.lease_ttl.0,
            timeout: self.connect_timeout.0,
            auth: crate::store::ClusterAuth {
                credentials_file: self.credentials_file.clone(),
                token: self.token.clone(),
                user_password: self.user.clone().zip(self.password.clone()),
                tls_ca_file: self.tls_ca_file.clone(),
                tls_client: self.tls_cert_file.clone().zip(self.tls_key_file.clone()),
                tls_required: self.tls_required,
            },
        }
    }

    /// Apply `HOOKBUS_NATS_URLS`, `HOOKBUS_NODE_NAME`,
    /// `HOOKBUS_CLUSTER_REPLICAS`, `HOOKBUS_CLUSTER_PARTITIONS`,
    /// `HOOKBUS_NATS_CREDS`, `HOOKBUS_NATS_TOKEN` to `section` (created when
    /// `HOOKBUS_NATS_URLS` names servers and there is none).
    pub fn apply_env(
        section: &mut Option<ClusterConfig>,
        get: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), String> {
        if let Some(v) = get("HOOKBUS_NATS_URLS").filter(|v| !v.trim().is_empty()) {
            section.get_or_insert_with(ClusterConfig::default).nats_urls = v
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
        let Some(c) = section.as_mut() else {
            return Ok(());
        };
        if let Some(v) = get("HOOKBUS_NODE_NAME").filter(|v| !v.is_empty()) {
            c.node_name = v;
        }
        let number = |name: &str, v: String| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("{name}: `{v}` is not a whole number"))
        };
        if let Some(v) = get("HOOKBUS_CLUSTER_REPLICAS") {
            c.replicas = number("HOOKBUS_CLUSTER_REPLICAS", v)?;
        }
        if let Some(v) = get("HOOKBUS_CLUSTER_PARTITIONS") {
            c.partitions = number("HOOKBUS_CLUSTER_PARTITIONS", v)?;
        }
        if let Some(v) = get("HOOKBUS_NATS_CREDS").filter(|v| !v.is_empty()) {
            c.credentials_file = Some(v.into());
        }
        if let Some(v) = get("HOOKBUS_NATS_TOKEN").filter(|v| !v.is_empty()) {
            c.token = Some(v);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_section_needs_servers_and_sane_numbers_and_lists_every_problem() {
        let ok = ClusterConfig {
            nats_urls: vec!["nats://127.0.0.1:4222".into()],
            ..Default::default()
        };
        assert!(ok.problems().is_empty(), "{:?}", ok.problems());
        let bad = ClusterConfig {
            nats_urls: vec!["http://x".into()],
            node_name: "has space".into(),
            replicas: 2,
            partitions: 0,
            prefix: "a.b".into(),
            user: Some("u".into()),
            token: Some("t".into()),
            ..Default::default()
        };
        let p = bad.problems();
        for want in [
            "nats_urls[0]",
            "node_name",
            "replicas",
            "partitions",
            "prefix",
            "user and cluster.password",
            "not several",
        ] {
            assert!(
                p.iter().any(|m| m.contains(want)),
                "{want} missing in {p:?}"
            );
        }
        assert!(ClusterConfig::default().problems()[0].contains("nats_urls"));
    }

    #[test]
    fn nats_urls_from_the_environment_create_the_section() {
        let mut section = None;
        let env = |k: &str| match k {
            "HOOKBUS_NATS_URLS" => Some("nats://127.0.0.1:1, nats://127.0.0.1:2".into()),
            "HOOKBUS_CLUSTER_REPLICAS" => Some("1".into()),
            "HOOKBUS_NODE_NAME" => Some("n1".into()),
            _ => None,
        };
        ClusterConfig::apply_env(&mut section, &env).unwrap();
        let c = section.unwrap();
        assert_eq!(c.nats_urls.len(), 2);
        assert_eq!((c.replicas, c.node_name.as_str()), (1, "n1"));
        let mut none = None;
        ClusterConfig::apply_env(&mut none, &|k: &str| {
            (k == "HOOKBUS_CLUSTER_REPLICAS").then(|| "3".into())
        })
        .unwrap();
        assert!(
            none.is_none(),
            "replicas alone does not turn cluster mode on"
        );
        let mut some = Some(ClusterConfig::default());
        let err = ClusterConfig::apply_env(&mut some, &|k: &str| {
            (k == "HOOKBUS_CLUSTER_PARTITIONS").then(|| "many".into())
        });
        assert!(err.unwrap_err().contains("HOOKBUS_CLUSTER_PARTITIONS"));
    }

    #[test]
    fn the_default_node_name_is_a_valid_key() {
        let c = ClusterConfig::default();
        let n = c.node_name_or("127.0.0.1:8080");
        assert!(is_token(&n), "{n}");
        assert!(n.ends_with("-8080"));
    }
}
