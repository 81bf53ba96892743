//! Who the client is behind a reverse proxy: `X-Forwarded-For` and `Forwarded` (RFC 7239)
//! are believed only from the proxies the operator named (`--trusted-proxy`); from anyone
//! else they are ignored, or any client could choose the address its guesses are counted
//! against.

use axum::http::HeaderMap;
use std::net::{IpAddr, SocketAddr};

/// The client's address for a request that arrived from `peer`: `peer` itself unless it is
/// a trusted proxy; then the nearest address in the forwarding chain (`Forwarded`'s `for=`,
/// else `X-Forwarded-For`) that is not a trusted proxy, read from the right (the entries on
/// the left were written by the client and anyone in between, and prove nothing). An entry
/// that is not an address (`unknown`, an obfuscated name) ends the walk at the last trusted
/// hop.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let chain = forwarded_for(headers);
    let mut client = peer;
    for entry in chain.iter().rev() {
        let Some(address) = entry else {
            return client;
        };
        client = *address;
        if !trusted.contains(address) {
            return client;
        }
    }
    client
}

/// The forwarding chain, client first: `Forwarded`'s `for=` values if the header is there,
/// else `X-Forwarded-For`. `None` for an entry that is not an address.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_owned())
            .collect()
    };
    let forwarded = values("forwarded");
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .map(|element| {
                element.split(';').find_map(|pair| {
                    let (key, value) = pair.trim().split_once('=')?;
                    key.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| parse_node(value.trim().trim_matches('"')))
                })?
            })
            .collect();
    }
    values("x-forwarded-for")
        .iter()
        .map(|v| parse_node(v))
        .collect()
}

/// An address as a forwarding header writes it: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`,
/// `[2001:db8::1]:80`, `[2001:db8::1]`.
fn parse_node(node: &str) -> Option<IpAddr> {
    node.parse::<IpAddr>()
        .ok()
        .or_else(|| node.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            node.strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<IpAddr>()
                .ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    /// (peer, headers, the client's address)
    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static str,
    );

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let proxy = ip("10.0.0.1");
        let trusted = [proxy, ip("10.0.0.2")];
        let cases: &[Case] = &[
            // Not from a trusted proxy: the headers are ignored.
            (
                "203.0.113.9",
                &[("x-forwarded-for", "198.51.100.1")],
                "203.0.113.9",
            ),
            // From the proxy: the address it saw.
            (
                "10.0.0.1",
                &[("x-forwarded-for", "198.51.100.1")],
                "198.51.100.1",
            ),
            // A client's own forged entry on the left counts for nothing.
            (
                "10.0.0.1",
                &[("x-forwarded-for", "1.1.1.1, 198.51.100.1")],
                "198.51.100.1",
            ),
            // Two trusted proxies in a row.
            (
                "10.0.0.1",
                &[("x-forwarded-for", "198.51.100.1, 10.0.0.2")],
                "198.51.100.1",
            ),
            // Several header lines are one list.
            (
                "10.0.0.1",
                &[
                    ("x-forwarded-for", "1.1.1.1"),
                    ("x-forwarded-for", "198.51.100.7"),
                ],
                "198.51.100.7",
            ),
            // Forwarded wins over X-Forwarded-For; ports and brackets are read.
            (
                "10.0.0.1",
                &[
                    (
                        "forwarded",
                        "for=1.1.1.1, for=\"[2001:db8::7]:4711\";proto=https",
                    ),
                    ("x-forwarded-for", "198.51.100.1"),
                ],
                "2001:db8::7",
            ),
            (
                "10.0.0.1",
                &[("forwarded", "for=198.51.100.3:80")],
                "198.51.100.3",
            ),
            // Not an address: the last trusted hop.
            ("10.0.0.1", &[("forwarded", "for=unknown")], "10.0.0.1"),
            ("10.0.0.1", &[("x-forwarded-for", "garbage")], "10.0.0.1"),
            // No header at all.
            ("10.0.0.1", &[], "10.0.0.1"),
        ];
        for (peer, pairs, expected) in cases {
            assert_eq!(
                client_address(ip(peer), &headers(pairs), &trusted),
                ip(expected),
                "{peer} {pairs:?}"
            );
        }
    }
}
