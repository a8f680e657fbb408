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
}
