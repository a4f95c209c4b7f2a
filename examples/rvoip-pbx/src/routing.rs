//! Where a call to a user goes: the user's bindings as fork groups (RFC 3261 §16.6: highest q first, the
//! bindings of equal q tried in parallel, the next group only when a whole group failed).

use std::net::{IpAddr, SocketAddr};

use registrar_core::types::Binding;
use registrar_core::types::{Aor, SipUri};

/// One leg to try.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Target {
    /// The Request-URI: the binding's Contact.
    pub uri: String,
    /// Where to send it when that is not the Contact's own address: the first Path hop (RFC 3327), or the
    /// address the REGISTER came from when the Contact names another (a phone behind NAT, an RFC 5626 flow).
    pub proxy: Option<String>,
}

/// The bindings (highest q first, as the registry returns them) in groups of equal q.
pub fn fork_groups(bindings: &[Binding]) -> Vec<Vec<Target>> {
    let mut groups: Vec<Vec<Target>> = Vec::new();
    let mut last = None;
    for b in bindings {
        let t = target(b);
        if last == Some(b.q)
            && let Some(g) = groups.last_mut()
        {
            g.push(t);
            continue;
        }
        groups.push(vec![t]);
        last = Some(b.q);
    }
    groups
}

fn target(b: &Binding) -> Target {
    let proxy = if let Some(first) = b.path.first() {
        Some(first.to_string())
    } else {
        b.source
            .filter(|s| !names(&b.contact, *s))
            .map(|s| match &b.transport {
                Some(t) if t.as_str() != "UDP" => {
                    format!("sip:{s};transport={}", t.as_str().to_ascii_lowercase())
                }
                _ => format!("sip:{s}"),
            })
    };
    Target {
        uri: b.contact.to_string(),
        proxy,
    }
}

/// Whether `uri` names the address `addr` (its host an IP address equal to it, the port the same).
fn names(uri: &SipUri, addr: SocketAddr) -> bool {
    let host = uri.host().to_string();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.parse::<IpAddr>().is_ok_and(|ip| ip == addr.ip())
        && uri.port().unwrap_or(5060) == addr.port()
}

/// The address-of-record a From or To value names, when it is in `domain`.
pub fn aor_in(value: &str, domain: &str) -> Option<Aor> {
    let uri: SipUri = registrar_sip::Message::uri_of(value).parse().ok()?;
    if !uri.host().to_string().eq_ignore_ascii_case(domain) {
        return None;
    }
    format!("sip:{}@{}", uri.user()?, domain).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use registrar_core::types::{CSeq, CallId, QValue, Timestamp};

    fn binding(contact: &str, q: &str, source: Option<&str>) -> Binding {
        let at = Timestamp::from_secs(0);
        Binding {
            contact: contact.parse().unwrap(),
            q: q.parse::<QValue>().unwrap(),
            expires_at: Timestamp::from_secs(3600),
            call_id: "c".parse::<CallId>().unwrap(),
            cseq: CSeq::new(1).unwrap(),
            instance_id: None,
            reg_id: None,
            path: Vec::new(),
            source: source.map(|s| s.parse().unwrap()),
            transport: None,
            user_agent: None,
            registered_at: at,
            last_refresh: at,
            temp_gruu: None,
            pnsreg: false,
        }
    }

    #[test]
    fn equal_q_forks_together_and_lower_q_waits() {
        let bs = [
            binding("sip:b@127.0.0.1:5062", "1", Some("127.0.0.1:5062")),
            binding("sip:b@127.0.0.1:5064", "1", None),
            binding("sip:b@10.0.0.7:5060", "0.5", Some("127.0.0.9:40000")),
        ];
        let g = fork_groups(&bs);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].len(), 2);
        assert_eq!(g[0][0].proxy, None);
        assert_eq!(g[1][0].uri, "sip:b@10.0.0.7:5060");
        assert_eq!(g[1][0].proxy.as_deref(), Some("sip:127.0.0.9:40000"));
    }

    #[test]
    fn a_path_is_the_route() {
        let mut b = binding("sip:b@10.0.0.7", "1", Some("127.0.0.2:5060"));
        b.path = vec!["sip:edge.test;lr".parse().unwrap()];
        assert_eq!(
            fork_groups(&[b])[0][0].proxy.as_deref(),
            Some("sip:edge.test;lr")
        );
    }

    #[test]
    fn only_our_domain_is_an_aor() {
        assert_eq!(
            aor_in("\"B\" <sip:b@PBX.test;transport=udp>;tag=x", "pbx.test")
                .unwrap()
                .to_string(),
            "sip:b@pbx.test"
        );
        assert!(aor_in("<sip:b@elsewhere.test>", "pbx.test").is_none());
        assert!(aor_in("<sip:pbx.test>", "pbx.test").is_none());
    }
}
