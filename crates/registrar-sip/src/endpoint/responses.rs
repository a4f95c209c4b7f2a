//! Responses on the wire: the status line, the request's Via (with received and rport), From, To with its tag, Call-ID and CSeq copied, then the answer's headers.

use super::*;

impl<L: LocationStore + 'static, P: PresenceStore + 'static> Endpoint<L, P> {
    pub(super) fn build_response(&self, msg: &Message, from: Peer, reply: &Response) -> Bytes {
        // Room for the copied headers and what is added, so the text is not reallocated while it grows.
        let extra: usize = reply
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum();
        let mut s = String::with_capacity(msg.head_len() + extra + 256);
        let reason = reply.reason;
        s.push_str("SIP/2.0 ");
        text::push_u64(&mut s, u64::from(reply.status));
        text::push_all(&mut s, &[" ", reason, "\r\n"]);
        let mut first = true;
        for v in msg.list(Hdr::Via) {
            if first {
                first = false;
                s.push_str("Via: ");
                push_top_via(&mut s, v, msg, from);
                s.push_str("\r\n");
            } else {
                text::push_all(&mut s, &["Via: ", v, "\r\n"]);
            }
        }
        text::push_all(
            &mut s,
            &["From: ", msg.header(Hdr::From).unwrap_or(""), "\r\n"],
        );
        let to = msg.header(Hdr::To).unwrap_or("");
        match (&reply.to_tag, msg.to_tag()) {
            (_, Some(_)) => text::push_all(&mut s, &["To: ", to, "\r\n"]),
            (Some(t), None) => text::push_all(&mut s, &["To: ", to, ";tag=", t, "\r\n"]),
            (None, None) => {
                // A tag derived from the transaction, the same on every retransmission.
                let tag = tag_of(msg);
                text::push_all(&mut s, &["To: ", to, ";tag=", &tag, "\r\n"]);
            }
        }
        text::push_all(
            &mut s,
            &[
                "Call-ID: ",
                msg.header(Hdr::CallId).unwrap_or(""),
                "\r\nCSeq: ",
            ],
        );
        text::push_u64(&mut s, u64::from(msg.cseq()));
        text::push_all(&mut s, &[" ", msg.cseq_method(), "\r\n"]);
        for (n, v) in &reply.headers {
            text::push_all(&mut s, &[n, ": ", v, "\r\n"]);
        }
        text::push_all(
            &mut s,
            &[
                "Server: ",
                &self.cfg.server_name,
                "\r\nContent-Length: 0\r\n\r\n",
            ],
        );
        Bytes::from(s)
    }
}

pub(super) fn push_top_via(s: &mut String, v: &str, msg: &Message, from: Peer) {
    // RFC 3261 §18.2.1 (received) and RFC 3581 §4 (rport).
    let via = msg.top_via();
    let mut params = v.split(';');
    s.push_str(params.next().unwrap_or("").trim());
    for p in params {
        let name = p.split('=').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("rport") || name.eq_ignore_ascii_case("received") {
            continue;
        }
        s.push(';');
        s.push_str(p.trim());
    }
    let ip = from.addr.ip();
    let host_is_source = via
        .host
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
        .is_ok_and(|h| h == ip);
    if !host_is_source || via.rport {
        s.push_str(";received=");
        text::push_ip(s, ip);
    }
    if via.rport {
        s.push_str(";rport=");
        text::push_u64(s, u64::from(from.addr.port()));
    }
}

/// Where a response goes (RFC 3261 §18.2.2, RFC 3581 §4): back on the connection for a stream; for a
/// datagram to the source address, on the source port when `rport` was asked for, else the sent-by port.
pub(super) fn response_target(msg: &Message, from: Peer) -> Peer {
    match from.proto {
        p if p.is_stream() => from,
        _ => {
            let via = msg.top_via();
            let port = if via.rport {
                from.addr.port()
            } else {
                via.port.unwrap_or(5060)
            };
            Peer::udp(SocketAddr::new(from.addr.ip(), port))
        }
    }
}

pub(super) fn tag_of(msg: &Message) -> String {
    // FNV-1a over the transaction's identity: stable across retransmissions, no state.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [
        msg.header(Hdr::CallId).unwrap_or(""),
        msg.from_tag().unwrap_or(""),
        msg.top_via().branch.as_deref().unwrap_or(""),
    ] {
        for b in part.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:x}")
}
