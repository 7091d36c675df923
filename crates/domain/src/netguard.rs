//! Server-side request forgery guard: tenant-supplied URLs Accord calls (webhook endpoints) must
//! not reach private, loopback, link-local or otherwise internal addresses. Checked at
//! registration (on the URL's literal host) and at send time (on every resolved address, so a
//! DNS name cannot be pointed inward later — DNS rebinding).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::{Host, Url};

/// Whether Accord may connect to `ip`. `allow_loopback` is a development setting only.
pub fn is_public(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_public(v4, allow_loopback),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_public(v4, allow_loopback);
            }
            if v6.is_loopback() {
                return allow_loopback;
            }
            let seg0 = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_multicast()
                || (seg0 & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg0 & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (seg0 & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                || seg0 == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
                || seg0 == 0x0064 && v6.segments()[1] == 0xff9b // NAT64 64:ff9b::/96 (embeds IPv4)
                || v6.segments()[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible ::a.b.c.d
        }
    }
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
        || (o[0] == 198 && (18..20).contains(&o[1])) // benchmarking 198.18/15
        || o[0] >= 240) // reserved
}

/// Checks a URL at registration: https (http only for loopback in development), no userinfo,
/// and a literal IP host must be public. Names are checked again at send time after resolution.
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
        ] {
            assert!(check_url(bad, false).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn public_https_is_accepted_and_loopback_only_in_development() {
        assert!(check_url("https://hooks.lender.example/accord", false).is_ok());
        assert!(check_url("https://93.184.216.34/", false).is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook", false).is_err());
        assert!(
            check_url("http://10.0.0.1/hook", true).is_err(),
            "development allows loopback only"
        );
    }
}
