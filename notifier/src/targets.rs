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

/// Whether `ip` is publicly routable: not loopback, private, shared (CGNAT), link-local,
/// unspecified, broadcast, multicast or documentation space.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_http_targets_pass_unless_allowed() {
        let strict = TargetPolicy::new(&[]);
        assert!(strict.check_url("https://hooks.example.com/sightline").is_ok());
        assert!(strict.check_url("http://93.184.216.34:8080/x").is_ok());
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
