//! Which webhook targets may be called: `http` or `https` URLs of publicly routable hosts, plus the
//! hosts an operator allows in `webhook.allow_hosts`. Checked when a rule is saved (the URL's
//! scheme, and its host when it is an address or `localhost`) and again on every call (every
//! address a name resolves to), so a name that later resolves to an internal address is refused too.

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// The operator's allowance of non-routable targets.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    allow_hosts: Arc<Vec<String>>,
}

impl TargetPolicy {
    /// A policy allowing `allow_hosts` (names or addresses, compared case-insensitively) besides
    /// public targets.
    pub fn new(allow_hosts: &[String]) -> Self {
        Self { allow_hosts: Arc::new(allow_hosts.iter().map(|h| h.trim_matches(['[', ']']).to_lowercase()).collect()) }
    }

    fn allows(&self, host: &str) -> bool {
        let host = host.trim_matches(['[', ']']).to_lowercase();
        self.allow_hosts.contains(&host)
    }

    /// Checks a webhook URL when a rule is saved; the error says what is wrong.
    pub fn check_url(&self, url: &str) -> Result<Url, String> {
        let parsed = Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("scheme {:?} is not allowed (http or https)", parsed.scheme()));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("credentials in the URL are not allowed (use the signing secret)".into());
        }
        let host = parsed.host_str().ok_or_else(|| format!("{url:?} has no host"))?;
        if self.allows(host) {
            return Ok(parsed);
        }
        let literal: Option<IpAddr> = host.trim_matches(['[', ']']).parse().ok();
        let local_name = host.eq_ignore_ascii_case("localhost") || host.to_lowercase().ends_with(".localhost");
        if local_name || literal.is_some_and(|ip| !is_public(ip)) {
            return Err(format!(
                "{host} is not a publicly routable target; an operator can allow it in the notifier's \
                 webhook.allow_hosts"
            ));
        }
        Ok(parsed)
    }

    /// A resolver for the webhook client that drops non-routable addresses of hosts not allowed.
    pub fn resolver(&self) -> Arc<PolicyResolver> {
        Arc::new(PolicyResolver { policy: self.clone() })
    }
}

/// Resolves names with the system resolver, keeping only what [`TargetPolicy`] allows.
#[derive(Debug)]
pub struct PolicyResolver {
    policy: TargetPolicy,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = policy.allows(&host);
            let kept: Vec<SocketAddr> = addresses.into_iter().filter(|a| allowed || is_public(a.ip())).collect();
            if kept.is_empty() {
                let error: Box<dyn std::error::Error + Send + Sync> =
                    format!("{host} resolves to no publicly routable address (allow it in webhook.allow_hosts)").into();
                return Err(error);
            }
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// Whether `ip` is globally routable, by one rule: an IPv4 address outside every special-purpose
/// block that IANA's registry marks not globally reachable (RFC 6890 and its updates), and an IPv6
/// address in global unicast space (2000::/3) outside its special blocks, or one that embeds an IPv4
/// address (v4-mapped, NAT64 64:ff9b::/96, 6to4 2002::/16) whose embedded address passes the IPv4
/// rule. Every other form (v4-compatible ::a.b.c.d, v4-translated ::ffff:0:a.b.c.d, site-local,
/// unique-local, link-local, documentation, Teredo and the other IETF protocol assignments, local-use
/// NAT64, multicast) is refused.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

/// IPv4 blocks that are not globally reachable: (network, prefix length).
const NON_GLOBAL_V4: [([u8; 4], u8); 16] = [
    ([0, 0, 0, 0], 8),          // "this network"
    ([10, 0, 0, 0], 8),         // private
    ([100, 64, 0, 0], 10),      // shared address space (CGNAT)
    ([127, 0, 0, 0], 8),        // loopback
    ([169, 254, 0, 0], 16),     // link-local (cloud metadata services)
    ([172, 16, 0, 0], 12),      // private
    ([192, 0, 0, 0], 24),       // IETF protocol assignments
    ([192, 0, 2, 0], 24),       // documentation (TEST-NET-1)
    ([192, 88, 99, 0], 24),     // 6to4 relay anycast (deprecated)
    ([192, 168, 0, 0], 16),     // private
    ([198, 18, 0, 0], 15),      // benchmarking
    ([198, 51, 100, 0], 24),    // documentation (TEST-NET-2)
    ([203, 0, 113, 0], 24),     // documentation (TEST-NET-3)
    ([224, 0, 0, 0], 4),        // multicast
    ([240, 0, 0, 0], 4),        // reserved
    ([255, 255, 255, 255], 32), // limited broadcast
];

fn in_v4_block(ip: Ipv4Addr, (network, length): ([u8; 4], u8)) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(length)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(network)) & mask
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    !NON_GLOBAL_V4.iter().any(|block| in_v4_block(ip, *block))
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let bits = u128::from(ip);
    let in_block = |network: u128, length: u32| {
        let mask = u128::MAX.checked_shl(128 - length).unwrap_or(0);
        bits & mask == network & mask
    };
    let embedded_v4 = |shift: u32| Ipv4Addr::from((bits >> shift) as u32);
    if in_block(0xffff << 32, 96) {
        // ::ffff:a.b.c.d, IPv4-mapped: the IPv4 address itself.
        return is_global_v4(embedded_v4(0));
    }
    if in_block(0x0064_ff9b << 96, 96) {
        // 64:ff9b::a.b.c.d, the well-known NAT64 prefix: the gateway reaches the IPv4 address.
        return is_global_v4(embedded_v4(0));
    }
    if in_block(0x2002 << 112, 16) {
        // 2002:AABB:CCDD::/48, 6to4: the relay reaches the IPv4 address in bits 16-47.
        return is_global_v4(embedded_v4(80));
    }
    let special = [
        (0x2001_0000 << 96, 23), // IETF protocol assignments: Teredo, benchmarking, ORCHID...
        (0x2001_0db8 << 96, 32), // documentation
        (0x3fff << 112, 20),     // documentation
    ];
    in_block(0x2000 << 112, 3) && !special.iter().any(|(network, length)| in_block(*network, *length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_http_targets_pass_unless_allowed() {
        let strict = TargetPolicy::new(&[]);
        assert!(strict.check_url("https://hooks.example.com/sightline").is_ok());
        assert!(strict.check_url("http://93.184.216.34:8080/x").is_ok());
        for public in [
            "http://[2606:4700::6810:84e5]/",
            "http://[::ffff:93.184.216.34]/",
            "http://[64:ff9b::93.184.216.34]/",
            "http://[2002:5db8:d822::1]/",
            "http://198.20.0.1/",
            "http://223.255.255.1/",
        ] {
            assert!(strict.check_url(public).is_ok(), "{public} is public");
        }
        for refused in [
            "ftp://example.com/x",
            "file:///etc/passwd",
            "http://127.0.0.1:9000/",
            "http://localhost/",
            "http://10.1.2.3/",
            "http://192.168.0.10/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
            "http://100.64.0.1/",
            // The forms that used to pass: IPv4 inside IPv6, and the reserved ranges.
            "http://[::127.0.0.1]/",
            "http://[::ffff:0:10.0.0.1]/",
            "http://[64:ff9b::10.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:7f00:1::]/",
            "http://[2002:a9fe:a9fe::1]/",
            "http://[fec0::1]/",
            "http://[2001:db8::1]/",
            "http://[2001::1]/",
            "http://[64:ff9b:1::1]/",
            "http://[100::1]/",
            "http://[5f00::1]/",
            "http://198.18.0.1/",
            "http://198.19.255.255/",
            "http://240.0.0.1/",
            "http://255.255.255.255/",
            "http://192.0.0.8/",
            "http://224.0.0.1/",
            "https://user:pw@example.com/",
            "not a url",
        ] {
            assert!(strict.check_url(refused).is_err(), "{refused} is refused");
        }
        let local = TargetPolicy::new(&["127.0.0.1".into(), "LocalHost".into()]);
        assert!(local.check_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(local.check_url("http://localhost:9000/hook").is_ok());
        assert!(local.check_url("http://10.1.2.3/").is_err(), "only the hosts named are allowed");
        assert!(strict.check_url("http://127.0.0.1/").unwrap_err().contains("allow_hosts"));
    }
}
