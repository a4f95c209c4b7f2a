//! REGISTER through rvoip-sip, answered by the registrar.
//!
//! rvoip-sip 0.4 hands an inbound REGISTER to the owner of its control stream as
//! [`Event::IncomingRegister`](rvoip_sip::Event::IncomingRegister) and answers it with a
//! `RegisterResponseBuilder`; it has no registrar trait. Its event copies only the first Contact and puts the
//! From URI in `to_uri`, so nothing is read from those fields: the raw request goes to the registrar's own
//! sans-IO [`Endpoint`] (every Contact, `Expires`, Path, outbound, GRUU, digest authentication when
//! configured, the RFC 3261 §10.3 rules), and the response the endpoint writes is carried over onto rvoip's
//! builder header by header ([`Answer`]).
//!
//! What rvoip's builder cannot say, and what the PBX does about it:
//! - A 200 with no binding left (after `Contact: *` or the last `expires=0`) gets the request's Contact
//!   copied back by rvoip (it adds the request's Contact when the application gives none); with `Expires: 0`
//!   on the response the phone reads it as removed.
//! - The builder adds its own To tag and `Expires` header; the PBX sets that `Expires` to the shortest
//!   binding's expiry (each Contact's own `expires` parameter, which RFC 3261 §10.2.4 makes authoritative,
//!   is carried as the registrar wrote it).

use std::net::SocketAddr;
use std::str::FromStr;

use bytes::Bytes;
use registrar_core::presence::PresenceStore;
use registrar_core::registry::LocationStore;
use registrar_sip::{Endpoint, Limits, Message, Peer, Proto};
use rvoip_sip::api::respond::{AuthScheme, RegisterResponseBuilder};
use rvoip_sip::{HeaderName, IncomingRegister, SipRequestOptions};

/// A response of the registrar's endpoint, sorted into what rvoip's REGISTER response builder takes.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Every Contact value, one binding each.
    pub contacts: Vec<String>,
    /// The shortest `expires` among the contacts (for the builder's `Expires` header).
    pub expires: Option<u32>,
    /// `Min-Expires` of a 423.
    pub min_expires: Option<u32>,
    /// The challenges of a 401 (or 407), in order.
    pub challenges: Vec<String>,
    /// Whether the response echoes the request's Path (RFC 3327).
    pub path: bool,
    /// `Service-Route` URIs (RFC 3608), without angle brackets.
    pub service_route: Vec<String>,
    /// Every other header the registrar wrote (Require, Supported, Feature-Caps, Warning, Retry-After, …).
    pub extra: Vec<(String, String)>,
}

/// Headers rvoip writes itself on every response, or that only the stack may write.
const STACK: &[&str] = &[
    "via",
    "v",
    "from",
    "f",
    "to",
    "t",
    "call-id",
    "i",
    "cseq",
    "content-length",
    "l",
    "max-forwards",
    "record-route",
    "route",
];

impl Answer {
    /// Sort the registrar's response `bytes`.
    ///
    /// # Errors
    /// The text of the parse error when `bytes` is not a SIP response.
    pub fn from_response(bytes: Bytes) -> Result<Self, String> {
        let m = Message::parse(bytes, Limits::default()).map_err(|e| e.to_string())?;
        let status = m.status().ok_or("not a response")?;
        let mut a = Self {
            status,
            ..Self::default()
        };
        for (name, value) in m.raw_headers() {
            let lower = name.to_ascii_lowercase();
            let value = value.trim();
            match lower.as_str() {
                n if STACK.contains(&n) => {}
                "contact" | "m" => {
                    for c in registrar_core::sip::split_list(value) {
                        let c = c.trim();
                        if c.is_empty() {
                            continue;
                        }
                        if let Some(e) = contact_expires(c) {
                            a.expires = Some(a.expires.map_or(e, |x| x.min(e)));
                        }
                        a.contacts.push(c.to_owned());
                    }
                }
                "expires" => {
                    if let Ok(e) = value.parse::<u32>() {
                        a.expires = Some(a.expires.map_or(e, |x| x.min(e)));
                    }
                }
                "min-expires" => a.min_expires = value.parse().ok(),
                "www-authenticate" | "proxy-authenticate" => a.challenges.push(value.to_owned()),
                "path" => a.path = true,
                "service-route" => {
                    for r in registrar_core::sip::split_list(value) {
                        let uri = Message::uri_of(r);
                        if !uri.is_empty() {
                            a.service_route.push(uri.to_owned());
                        }
                    }
                }
                _ => a.extra.push((name.to_owned(), value.to_owned())),
            }
        }
        Ok(a)
    }

    /// The rvoip response for `reg` that says what this answer says.
    ///
    /// # Errors
    /// When rvoip refuses a header (its policy owns it); the caller then answers 500.
    pub fn builder(&self, reg: &IncomingRegister) -> Result<RegisterResponseBuilder, String> {
        let mut b = match self.status {
            200..=299 => {
                let mut b = reg.accept_builder().with_expires(self.expires.unwrap_or(0));
                if !self.contacts.is_empty() {
                    b = b.with_contact_from_binding(self.contacts.join(", "));
                }
                if self.path {
                    b = b.with_path_echo();
                }
                if !self.service_route.is_empty() {
                    b = b.with_service_route(self.service_route.clone());
                }
                b
            }
            401 | 407 if !self.challenges.is_empty() => reg
                .challenge_builder(AuthScheme::Digest)
                .with_raw_www_authenticate(self.challenges[0].clone())
                .as_proxy_challenge(self.status == 407),
            423 => reg
                .reject_builder(423)
                .with_min_expires(self.min_expires.unwrap_or(60)),
            s => reg.reject_builder(s),
        };
        // Further challenges (RFC 8760: SHA-256 first, then MD5) go as extra headers.
        let more = self.challenges.iter().skip(1).map(|c| {
            let name = if self.status == 407 {
                "Proxy-Authenticate"
            } else {
                "WWW-Authenticate"
            };
            (name.to_owned(), c.clone())
        });
        for (name, value) in self.extra.iter().cloned().chain(more) {
            let header = HeaderName::from_str(&name).map_err(|e| format!("{name}: {e}"))?;
            b = b
                .with_raw_header(header, value)
                .map_err(|e| format!("{name}: {e:?}"))?;
        }
        Ok(b)
    }
}

/// The `expires` parameter of one Contact value.
fn contact_expires(c: &str) -> Option<u32> {
    // Parameters after the name-addr's closing bracket (or after the addr-spec).
    let params = c.rfind('>').map_or(c, |i| &c[i + 1..]);
    params.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("expires")
            .then(|| v.trim().parse().ok())?
    })
}

/// The request as text again. Not `Request::to_bytes`: rvoip-sip-core 0.4 parses `Contact: <a>, <b>` into one
/// value holding both and writes them back with nothing between them (`<a><b>`), which would lose every
/// binding but the first. Each Contact is written on a line of its own here, which RFC 3261 §7.3.1 makes
/// equivalent.
fn wire(r: &rvoip_sip_core::Request) -> Vec<u8> {
    use rvoip_sip_core::TypedHeader;
    use rvoip_sip_core::types::contact::ContactValue;
    use std::fmt::Write as _;

    let mut s = String::with_capacity(512 + 64 * r.headers.len());
    let _ = write!(s, "{} {} {}\r\n", r.method, r.uri, r.version);
    for h in &r.headers {
        match h {
            TypedHeader::Contact(c) => {
                for v in &c.0 {
                    match v {
                        ContactValue::Star => s.push_str("Contact: *\r\n"),
                        ContactValue::Params(ps) => {
                            for p in ps {
                                let _ = write!(s, "Contact: {}\r\n", p.address);
                            }
                        }
                    }
                }
            }
            other => {
                let _ = write!(s, "{other}\r\n");
            }
        }
    }
    s.push_str("\r\n");
    let mut bytes = s.into_bytes();
    bytes.extend_from_slice(&r.body);
    bytes
}

/// Where the REGISTER came from: the transport rvoip received it on, else its top Via (the request is
/// parsed for that only when rvoip does not say; the endpoint parses it anyway).
fn peer_of(reg: &IncomingRegister, bytes: &Bytes) -> Option<Peer> {
    let t = reg.transport_security_context();
    let (addr, via_proto) = match t.remote_addr.as_deref().and_then(|a| a.parse().ok()) {
        Some(a) => (a, None),
        None => {
            let m = Message::parse(bytes.clone(), Limits::default()).ok()?;
            let v = m.top_via();
            let addr: SocketAddr = format!("{}:{}", v.host, v.port.unwrap_or(5060))
                .parse()
                .ok()?;
            (addr, Proto::parse(&v.transport))
        }
    };
    let proto = t
        .transport
        .as_deref()
        .and_then(Proto::parse)
        .or(via_proto)
        .unwrap_or(Proto::Udp);
    Some(match proto {
        Proto::Udp => Peer::udp(addr),
        // rvoip keeps its connections to itself; the registrar knows the flow by the address.
        p => Peer::stream(p, addr, t.flow_id.unwrap_or(0)),
    })
}

/// Answer one REGISTER that rvoip received on `local`: the registrar decides, rvoip sends.
pub async fn answer<L, P>(ep: &Endpoint<L, P>, local: SocketAddr, reg: IncomingRegister)
where
    L: LocationStore + 'static,
    P: PresenceStore + 'static,
{
    let Some(request) = reg.raw_request() else {
        tracing::warn!("REGISTER without its request: 500");
        let _ = reg.reject_builder(500).send().await;
        return;
    };
    let bytes = Bytes::from(wire(request));
    let Some(peer) = peer_of(&reg, &bytes) else {
        tracing::info!("REGISTER from an unknown source with an unreadable Via: 400");
        let _ = reg.reject_builder(400).send().await;
        return;
    };
    let now = ep.service().now();
    let handled = ep.handle(now, peer, local, bytes).await;
    let response = handled
        .out
        .into_iter()
        .find(|o| o.bytes.starts_with(b"SIP/2.0 "));
    let Some(response) = response else {
        tracing::warn!("the registrar did not answer a REGISTER: 500");
        let _ = reg.reject_builder(500).send().await;
        return;
    };
    let built = Answer::from_response(response.bytes).and_then(|a| a.builder(&reg));
    let sent = match built {
        Ok(b) => b.send().await,
        Err(e) => {
            tracing::warn!("REGISTER answer not expressible through rvoip ({e}): 500");
            reg.reject_builder(500).send().await
        }
    };
    if let Err(e) = sent {
        tracing::warn!("REGISTER answer not sent: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(text: &str) -> Answer {
        Answer::from_response(Bytes::from(text.replace('\n', "\r\n"))).unwrap()
    }

    #[test]
    fn a_200_keeps_every_contact_and_the_headers_the_stack_does_not_own() {
        let a = answer(
            "SIP/2.0 200 OK\n\
             Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\n\
             From: <sip:b@pbx.test>;tag=1\nTo: <sip:b@pbx.test>;tag=2\nCall-ID: c\nCSeq: 2 REGISTER\n\
             Contact: <sip:b@127.0.0.1:5062>;expires=600, <sip:b@127.0.0.1:5064>;expires=120;q=0.5\n\
             Contact: <sip:b@[::1]:5066;ob>;expires=300;+sip.instance=\"<urn:uuid:1>\";reg-id=1;pub-gruu=\"sip:b@pbx.test;gr=urn:uuid:1\"\n\
             Require: outbound\nSupported: path, outbound, gruu\nPath: <sip:edge.test;lr>\n\
             Service-Route: <sip:core.test;lr>\nContent-Length: 0\n\n",
        );
        assert_eq!(a.status, 200);
        assert_eq!(a.contacts.len(), 3);
        assert!(a.contacts[2].contains("pub-gruu=\"sip:b@pbx.test;gr=urn:uuid:1\""));
        assert_eq!(a.expires, Some(120));
        assert!(a.path);
        assert_eq!(a.service_route, ["sip:core.test;lr"]);
        assert_eq!(
            a.extra,
            [
                ("Require".to_owned(), "outbound".to_owned()),
                ("Supported".to_owned(), "path, outbound, gruu".to_owned())
            ]
        );
    }

    #[test]
    fn errors_keep_their_status_and_what_it_needs() {
        let a = answer(
            "SIP/2.0 423 Interval Too Brief\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@x>;tag=1\n\
             To: <sip:a@x>;tag=2\nCall-ID: c\nCSeq: 1 REGISTER\nMin-Expires: 60\nContent-Length: 0\n\n",
        );
        assert_eq!((a.status, a.min_expires), (423, Some(60)));
        let a = answer(
            "SIP/2.0 401 Unauthorized\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@x>;tag=1\n\
             To: <sip:a@x>;tag=2\nCall-ID: c\nCSeq: 1 REGISTER\n\
             WWW-Authenticate: Digest realm=\"x\", nonce=\"n1\", algorithm=SHA-256, qop=\"auth\"\n\
             WWW-Authenticate: Digest realm=\"x\", nonce=\"n2\", algorithm=MD5, qop=\"auth\"\nContent-Length: 0\n\n",
        );
        assert_eq!(a.status, 401);
        assert_eq!(a.challenges.len(), 2);
        assert!(a.challenges[0].contains("SHA-256"));
    }

    #[test]
    fn contact_expires_reads_the_header_parameter_only() {
        assert_eq!(contact_expires("<sip:a@h;expires=9>;expires=30"), Some(30));
        assert_eq!(contact_expires("<sip:a@h;expires=9>"), None);
        assert_eq!(contact_expires("sip:a@h;expires=7"), Some(7));
    }
}
