//! SSRF guard: which destination addresses deliveries may reach.
//!
//! Every address a host resolves to (or an IP literal) must be public, or
//! inside `delivery.allow_networks`. The check runs inside the HTTP client's
//! resolver, so the connection goes only to addresses that passed it (no DNS
//! rebinding between check and connect). Redirects are never followed.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use futures_util::future::LocalBoxFuture;
use ipnet::IpNet;

/// Marker in resolver errors, so a refusal is classified as permanent.
pub const REFUSED: &str = "destination refused";

/// Why an address is not a public destination, if it is not.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_reason(v4).map(|_| "IPv4-mapped private or reserved address");
            }
            let s = v6.segments();
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if s[0] & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if s[0] & 0xfe00 == 0xfc00 {
                Some("private (unique local)")
            } else if s[0] == 0x2001 && s[1] == 0x0db8 {
                Some("documentation")
            } else if s[0] == 0x0064 && s[1] == 0xff9b {
                // NAT64 embeds an IPv4 address in the last 32 bits.
                let v4 =
                    Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
                v4_reason(v4).map(|_| "NAT64 of a private or reserved address")
            } else {
                None
            }
        }
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if o[0] == 169 && o[1] == 254 {
        Some("link-local (cloud metadata lives here)")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        Some("carrier-grade NAT")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_unspecified() || o[0] == 0 {
        Some("unspecified")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else if ip.is_documentation() {
        Some("documentation")
    } else if o[0] == 198 && (o[1] & 0xfe) == 18 {
        Some("benchmarking")
    } else if o[0] >= 240 {
        Some("reserved")
    } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
        Some("IETF protocol assignments")
    } else {
        None
    }
}

/// Resolves a host name to addresses (the system resolver, or a fake in tests).
pub type LookupFn = Arc<
    dyn Fn(String, u16) -> LocalBoxFuture<'static, std::io::Result<Vec<SocketAddr>>> + Send + Sync,
>;

/// The system resolver.
pub fn system_lookup() -> LookupFn {
    Arc::new(|host, port| {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .collect())
        })
    })
}

/// The policy: forbidden ranges, minus the operator's allow-list.
#[derive(Clone)]
pub struct Guard {
    allow: Vec<IpNet>,
    lookup: LookupFn,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("allow", &self.allow)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// A guard allowing `allow` (CIDRs) and resolving with `lookup`.
    pub fn new(allow: Vec<IpNet>, lookup: LookupFn) -> Self {
        Self { allow, lookup }
    }

    /// `Err(reason)` when `ip` may not be contacted.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match forbidden_reason(ip) {
            Some(reason) if !self.allow.iter().any(|n| n.contains(&ip)) => Err(format!(
                "{REFUSED}: {ip} is a {reason} address (allow it with delivery.allow_networks)"
            )),
            _ => Ok(()),
        }
    }

    /// Resolve `host` and check every address; all must pass.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        let addrs = (self.lookup)(host.to_string(), port)
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?;
        if addrs.is_empty() {
            return Err(format!("cannot resolve {host}: no addresses"));
        }
        for a in &addrs {
            self.check(a.ip())
                .map_err(|e| format!("{e}; {host} resolved to it"))?;
        }
        Ok(addrs)
    }
}

/// `delivery.allow_networks` entries as networks; every bad entry reported.
pub fn parse_networks(list: &[String]) -> Result<Vec<IpNet>, Vec<String>> {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (i, s) in list.iter().enumerate() {
        match s
            .parse::<IpNet>()
            .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        {
            Ok(n) => out.push(n),
            Err(_) => bad.push(format!(
                "delivery.allow_networks[{i}]: `{s}` is not a CIDR like 10.0.0.0/8"
            )),
        }
    }
    if bad.is_empty() { Ok(out) } else { Err(bad) }
}

/// The guard as an awc resolver.
pub struct GuardResolver(pub Arc<Guard>);

impl actix_tls::connect::Resolve for GuardResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn StdError>>> {
        Box::pin(async move { self.0.resolve(host, port).await.map_err(|e| e.into()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(allow: &[&str]) -> Guard {
        let nets =
            parse_networks(&allow.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        Guard::new(nets, system_lookup())
    }

    #[test]
    fn refuses_every_non_public_range() {
        let g = guard(&[]);
        for ip in [
            "127.0.0.1",
            "127.0.0.2",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "ff02::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(
                g.check(ip.parse().unwrap()).is_err(),
                "{ip} must be refused"
            );
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(g.check(ip.parse().unwrap()).is_ok(), "{ip} is public");
        }
    }

    #[test]
    fn the_allow_list_opens_ranges_explicitly() {
        let g = guard(&["127.0.0.0/8", "10.0.0.5"]);
        assert!(g.check("127.0.0.2".parse().unwrap()).is_ok());
        assert!(g.check("10.0.0.5".parse().unwrap()).is_ok());
        assert!(g.check("10.0.0.6".parse().unwrap()).is_err());
        assert!(
            g.check("::ffff:127.0.0.1".parse().unwrap()).is_ok(),
            "mapped addresses use the v4 rules"
        );
        let e = g.check("169.254.169.254".parse().unwrap()).unwrap_err();
        assert!(e.starts_with(REFUSED) && e.contains("link-local"), "{e}");
    }

    #[actix_rt::test]
    async fn every_resolved_address_must_pass() {
        // A fake resolver: nothing is contacted, only checked.
        let lookup: LookupFn = Arc::new(|_, port| {
            Box::pin(async move {
                Ok(vec![
                    SocketAddr::from(([1, 1, 1, 1], port)),
                    SocketAddr::from(([10, 0, 0, 1], port)),
                ])
            })
        });
        let g = Guard::new(Vec::new(), lookup);
        let e = g.resolve("mixed.test", 443).await.unwrap_err();
        assert!(e.contains("10.0.0.1") && e.contains("mixed.test"), "{e}");
    }

    #[test]
    fn bad_networks_are_all_reported() {
        let errs =
            parse_networks(&["10.0.0.0/8".into(), "nope".into(), "1.2.3.4/99".into()]).unwrap_err();
        assert_eq!(errs.len(), 2);
    }
}
