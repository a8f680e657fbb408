//! The client's address. Behind a reverse proxy every request comes from
//! the proxy, so when the peer is one of `TRUSTED_PROXIES` the client is the
//! right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
//! Without a trusted peer the header is ignored (anyone can forge it).

use std::net::IpAddr;

use ipnet::IpNet;
use poem::Request;

/// The client address of `req`.
pub fn client_ip(req: &Request, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip())?;
    Some(resolve(peer, req.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()), trusted))
}

/// The pure rule: walk `X-Forwarded-For` from the right while the hop is trusted.
pub fn resolve<'a>(peer: IpAddr, forwarded: impl Iterator<Item = &'a str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&canonical(*ip)));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> =
        forwarded.flat_map(|header| header.split(',')).filter_map(|hop| hop.trim().parse().ok()).collect();
    hops.into_iter().rev().find(|hop| !is_trusted(hop)).unwrap_or(peer)
}

/// The key a per-address cap counts under: an IPv4 address, or an IPv6
/// address's /64 — one host usually owns a whole /64, so counting its
/// single addresses would give it 2^64 budgets (SPEC §24).
pub fn cap_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(segments[0], segments[1], segments[2], segments[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// IPv4-mapped IPv6 (`::ffff:10.0.0.1`) as IPv4, so v4 CIDRs match it.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // Direct client: the header is forged, ignored.
        assert_eq!(resolve(ip("203.0.113.9"), ["1.2.3.4"].into_iter(), &trusted), ip("203.0.113.9"));
        // Through the proxy: the right-most untrusted hop.
        assert_eq!(resolve(ip("10.0.0.2"), ["1.2.3.4, 198.51.100.7"].into_iter(), &trusted), ip("198.51.100.7"));
        // A chain of trusted proxies is skipped.
        assert_eq!(resolve(ip("10.0.0.2"), ["198.51.100.7", "10.0.0.3"].into_iter(), &trusted), ip("198.51.100.7"));
        // No header: the proxy itself.
        assert_eq!(resolve(ip("10.0.0.2"), std::iter::empty(), &trusted), ip("10.0.0.2"));
        // A mapped v4 peer matches a v4 range.
        assert_eq!(resolve(ip("::ffff:10.0.0.2"), ["198.51.100.7"].into_iter(), &trusted), ip("198.51.100.7"));
        // Nothing trusted: never the header.
        assert_eq!(resolve(ip("10.0.0.2"), ["198.51.100.7"].into_iter(), &[]), ip("10.0.0.2"));
    }

    #[test]
    fn caps_count_an_ipv6_host_by_its_64() {
        assert_eq!(cap_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(cap_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")), cap_key(ip("2001:db8:1:2::7")));
        assert_ne!(cap_key(ip("2001:db8:1:3::1")), cap_key(ip("2001:db8:1:2::1")));
        assert_eq!(cap_key(ip("203.0.113.9")), ip("203.0.113.9"));
        assert_eq!(cap_key(ip("::ffff:203.0.113.9")), ip("203.0.113.9"));
    }
}
