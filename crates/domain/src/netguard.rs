//! Server-side request forgery guard: tenant-supplied URLs Accord calls (webhook endpoints) must
//! not reach private, loopback, link-local or otherwise internal addresses. Checked at
//! registration (the URL's literal host, then every address its name resolves to) and at send
//! time (every resolved address again, and the connection goes to those addresses only, so a
//! DNS name cannot be pointed inward later — DNS rebinding).
//!
//! Name resolution is behind [`Resolver`], injected like the clock: production resolves through
//! the operating system (`accord_worker::webhooks::SystemResolver`), tests use
//! [`StaticResolver`], a table they control.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use url::{Host, Url};

/// Whether Accord may connect to `ip`. `allow_loopback` is a development setting only.
pub fn is_public(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_public(v4, allow_loopback),
        IpAddr::V6(v6) => v6_public(v6, allow_loopback),
    }
}

/// IPv6: only global unicast (`2000::/3`, RFC 4291 §2.4) is reachable on the Internet, less the
/// special-purpose blocks of the IANA registry, and less the transition forms that carry an
/// IPv4 address, which are judged by that address.
fn v6_public(ip: Ipv6Addr, allow_loopback: bool) -> bool {
    // IPv4-mapped ::ffff:a.b.c.d (RFC 4291 §2.5.5.2): a dual-stack socket connects to the IPv4
    // address itself, loopback included.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_public(v4, allow_loopback);
    }
    if ip.is_loopback() {
        return allow_loopback;
    }
    let s = ip.segments();
    // The IPv4 address in the low 32 bits.
    let low32 = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052 §2.1): a translator forwards to the
    // embedded IPv4 address. Never "loopback" in the development sense: that address is the
    // translator's neighbour, not this machine.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_public(low32, false);
    }
    // 6to4 2002::/16 (RFC 3056 §2): relayed to the IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        return v4_public(
            Ipv4Addr::from((u32::from(s[1]) << 16) | u32::from(s[2])),
            false,
        );
    }
    // Outside 2000::/3: IPv4-compatible ::a.b.c.d (deprecated, RFC 4291 §2.5.5.1), the
    // unspecified address, IPv4-translated ::ffff:0:a.b.c.d, the NAT64 local-use prefix
    // 64:ff9b:1::/48 (RFC 8215: where its IPv4 sits depends on the operator's prefix length,
    // so it cannot be read), discard-only 100::/64, unique local fc00::/7, link-local
    // fe80::/10, site-local fec0::/10, multicast ff00::/8, and every unassigned block.
    if s[0] & 0xe000 != 0x2000 {
        return false;
    }
    // IETF protocol assignments 2001::/23, Teredo 2001::/32 among them (RFC 4380: a tunnel
    // whose far end, the client's obfuscated IPv4 address, Accord would not choose), and
    // benchmarking 2001:2::/48.
    let protocol = s[0] == 0x2001 && s[1] < 0x0200;
    // Documentation 2001:db8::/32 (RFC 3849) and 3fff::/20 (RFC 9637).
    let documentation = (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] == 0x3fff && s[1] < 0x1000);
    // Segment routing SIDs 5f00::/16 (RFC 9602).
    let srv6 = s[0] == 0x5f00;
    !(protocol || documentation || srv6)
}

fn v4_public(ip: Ipv4Addr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (64..128).contains(&o[1])) // carrier-grade NAT 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 192 && o[1] == 88 && o[2] == 99) // 6to4 relay anycast (deprecated, RFC 7526)
        || (o[0] == 198 && (18..20).contains(&o[1])) // benchmarking 198.18/15
        || o[0] >= 240) // reserved
}

/// Checks a URL's shape and literal host: https (http only for loopback in development), no
/// userinfo, a literal IP host public, no `localhost` name. A name host is the caller's to
/// resolve and check ([`resolve_public`]): at registration, and again at send time.
pub fn check_url(raw: &str, allow_loopback: bool) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("is not a valid URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password".into());
    }
    let host = url.host().ok_or("must have a host")?;
    let ip = match host {
        Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if d == "localhost" || d.ends_with(".localhost") {
                Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
            } else {
                None
            }
        }
    };
    if let Some(ip) = ip {
        if !is_public(ip, allow_loopback) {
            return Err("points to a private, loopback or link-local address".into());
        }
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_loopback && ip.is_some_and(|i| i.is_loopback() || matches!(i, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some_and(|m| m.is_loopback()))) => Ok(url),
        _ => Err("must use https".into()),
    }
}

/// What a [`Resolver`] answers: the addresses of a name (possibly none).
pub type Lookup = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;

/// Name resolution for the URLs Accord calls. Production resolves through the operating system;
/// tests inject a [`StaticResolver`], so what a name points to is theirs to decide.
pub trait Resolver: Send + Sync + std::fmt::Debug {
    fn lookup(&self, host: &str) -> Lookup;
}

/// A resolver answering from a table (tests): a name not in it has no address.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver(Arc<Mutex<HashMap<String, Vec<IpAddr>>>>);

impl StaticResolver {
    /// Points `name` (any case, trailing dot or not) to `addrs`; an empty list removes it.
    pub fn set(&self, name: &str, addrs: &[IpAddr]) {
        let mut table = self.0.lock().expect("resolver lock poisoned");
        if addrs.is_empty() {
            table.remove(&Self::key(name));
        } else {
            table.insert(Self::key(name), addrs.to_vec());
        }
    }

    fn key(name: &str) -> String {
        name.trim_end_matches('.').to_ascii_lowercase()
    }
}

impl Resolver for StaticResolver {
    fn lookup(&self, host: &str) -> Lookup {
        let found = self
            .0
            .lock()
            .expect("resolver lock poisoned")
            .get(&Self::key(host))
            .cloned();
        Box::pin(async move {
            found.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such name"))
        })
    }
}

/// Why a name may not be called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The name has no address, or its lookup failed.
    DoesNotResolve,
    /// One of its addresses is not public (one is enough: a name pointing both ways is an
    /// attempt).
    Inward(IpAddr),
}

/// Resolves `host` and accepts it only if it has addresses and every one is public.
pub async fn resolve_public(
    resolver: &dyn Resolver,
    host: &str,
    allow_loopback: bool,
) -> Result<Vec<IpAddr>, Refused> {
    let addrs = resolver
        .lookup(host)
        .await
        .map_err(|_| Refused::DoesNotResolve)?;
    if addrs.is_empty() {
        return Err(Refused::DoesNotResolve);
    }
    match addrs.iter().find(|a| !is_public(**a, allow_loopback)) {
        Some(bad) => Err(Refused::Inward(*bad)),
        None => Ok(addrs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bypass_corpus_is_refused() {
        for bad in [
            "https://127.0.0.1/x",
            "https://2130706433/", // decimal 127.0.0.1
            "https://0x7f000001/", // hex
            "https://0177.0.0.1/", // octal
            "https://127.1/",      // short form
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/", // IPv4-mapped
            "https://[::ffff:10.0.0.1]/",
            "https://10.0.0.5/",
            "https://172.16.3.4/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data", // cloud metadata
            "https://[fe80::1]/",
            "https://[fd00::1]/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://localhost/",
            "https://api.localhost/",
            "https://user:pw@hooks.lender.example/",
            "http://hooks.lender.example/",
            "ftp://hooks.lender.example/",
            "https://[64:ff9b::7f00:1]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[64:ff9b:1::a00:1]/",
            "https://[2002:7f00:1::1]/",
            "https://[2002:a9fe:a9fe::]/",
            "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", // Teredo
            "https://[::7f00:1]/",                             // IPv4-compatible
            "https://[::127.0.0.1]/",
            "https://[::ffff:0:7f00:1]/", // IPv4-translated
            "https://[fec0::1]/",
            "https://[ff02::1]/",
            "https://[100::1]/",
            "https://LOCALHOST./",
            "https://localhost../",
            "https://[::]/",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn addresses_carrying_an_ipv4_address_are_judged_by_it() {
        let v6 = |s: &str| IpAddr::V6(s.parse().unwrap());
        for (addr, public) in [
            // IPv4-mapped ::ffff:0:0/96
            ("::ffff:127.0.0.1", false),
            ("::ffff:7f00:1", false),
            ("::ffff:a9fe:a9fe", false),
            ("::ffff:5db8:d822", true), // 93.184.216.34
            // IPv4-translated ::ffff:0:0:0/96 (RFC 2765): never global
            ("::ffff:0:7f00:1", false),
            ("::ffff:0:5db8:d822", false),
            // IPv4-compatible ::a.b.c.d (deprecated): never global
            ("::7f00:1", false),
            ("::a00:1", false),
            ("::5db8:d822", false),
            ("::", false),
            // NAT64 well-known prefix 64:ff9b::/96: the embedded address decides
            ("64:ff9b::7f00:1", false),
            ("64:ff9b::a00:5", false),
            ("64:ff9b::a9fe:a9fe", false),
            ("64:ff9b::c0a8:101", false),
            ("64:ff9b::5db8:d822", true),
            // NAT64 local-use 64:ff9b:1::/48: the IPv4 position is the operator's, so refused
            ("64:ff9b:1::7f00:1", false),
            ("64:ff9b:1::5db8:d822", false),
            ("64:ff9b:1:7f00:1::", false),
            // 6to4 2002::/16: the IPv4 in bits 16..48 decides
            ("2002:7f00:1::1", false),
            ("2002:a00:1::1", false),
            ("2002:c0a8:101::1", false),
            ("2002:a9fe:a9fe::1", false),
            ("2002::1", false), // 0.0.0.0
            ("2002:5db8:d822::1", true),
            // Teredo 2001::/32: refused whatever it carries (client 127.0.0.1 and 93.184.216.34)
            ("2001:0:4136:e378:8000:63bf:80ff:fffe", false),
            ("2001:0:4136:e378:8000:63bf:a247:27cb", false),
            ("2001::1", false),
            // other special-purpose and non-global blocks
            ("2001:2::1", false),   // benchmarking
            ("2001:db8::1", false), // documentation
            ("3fff::1", false),     // documentation (RFC 9637)
            ("5f00::1", false),     // SRv6 SIDs
            ("100::1", false),      // discard-only
            ("ff02::1", false),     // multicast
            ("fec0::1", false),     // site-local
            ("fe80::1", false),
            ("fd12:3456::1", false),
            ("4000::1", false), // unassigned, outside 2000::/3
            // global unicast
            ("2606:4700:4700::1111", true),
            ("2a00:1450:4001:80b::200e", true),
            ("2001:4860:4860::8888", true),
        ] {
            assert_eq!(is_public(v6(addr), false), public, "{addr}");
        }
        // The development setting allows this machine's loopback, mapped included, and never
        // an address behind a translator or a relay.
        for (addr, allowed) in [
            ("::1", true),
            ("::ffff:127.0.0.1", true),
            ("64:ff9b::7f00:1", false),
            ("2002:7f00:1::1", false),
            ("::7f00:1", false),
            ("2002:c0a8:101::1", false),
        ] {
            assert_eq!(is_public(v6(addr), true), allowed, "{addr} in development");
        }
        assert!(!is_public(IpAddr::V4(Ipv4Addr::new(192, 88, 99, 1)), false));
    }

    /// Polls a future the [`StaticResolver`] made: it is ready at once.
    fn now<T>(f: impl Future<Output = T>) -> T {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("the static resolver answers at once"),
        }
    }

    #[test]
    fn a_name_is_accepted_only_if_every_address_is_public() {
        let r = StaticResolver::default();
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        let inward: IpAddr = "10.0.0.7".parse().unwrap();
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        r.set("Hooks.Lender.Example.", &[public]);
        r.set("split.lender.example", &[public, inward]);
        r.set("dev.lender.example", &[loopback]);
        assert_eq!(
            now(resolve_public(&r, "hooks.lender.example", false)),
            Ok(vec![public])
        );
        assert_eq!(
            now(resolve_public(&r, "split.lender.example", true)),
            Err(Refused::Inward(inward))
        );
        assert_eq!(
            now(resolve_public(&r, "dev.lender.example", false)),
            Err(Refused::Inward(loopback))
        );
        assert_eq!(
            now(resolve_public(&r, "dev.lender.example", true)),
            Ok(vec![loopback])
        );
        assert_eq!(
            now(resolve_public(&r, "nowhere.lender.example", false)),
            Err(Refused::DoesNotResolve)
        );
        r.set("hooks.lender.example", &[]);
        assert_eq!(
            now(resolve_public(&r, "hooks.lender.example", false)),
            Err(Refused::DoesNotResolve)
        );
    }

    #[test]
    fn public_https_is_accepted_and_loopback_only_in_development() {
        assert!(check_url("https://hooks.lender.example/accord", false).is_ok());
        assert!(check_url("https://93.184.216.34/", false).is_ok());
        assert!(check_url("https://[2606:4700:4700::1111]/", false).is_ok());
        assert!(check_url("https://[2002:5db8:d822::1]/", false).is_ok());
        assert!(check_url("https://[64:ff9b::5db8:d822]/", false).is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook", false).is_err());
        assert!(
            check_url("http://10.0.0.1/hook", true).is_err(),
            "development allows loopback only"
        );
    }
}
