//! STUN keep-alives on the SIP UDP port (RFC 5626 §4.4.2 and §8): a device using outbound sends STUN Binding
//! requests (RFC 5389) to the port it registered through and learns from the answer whether its NAT binding
//! changed. A STUN message starts with two zero bits, which no SIP message does, so both share the socket.
//!
//! This answers Binding requests with a Binding success response carrying XOR-MAPPED-ADDRESS (and a
//! FINGERPRINT when the request had one). It does no authentication (keep-alives carry none) and ignores every
//! other STUN method and class.

use std::net::{IpAddr, SocketAddr};

const MAGIC: u32 = 0x2112_A442;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
const FINGERPRINT: u16 = 0x8028;
const FINGERPRINT_XOR: u32 = 0x5354_554e;

/// Whether a datagram is a STUN message (RFC 5389 §6: two zero bits, then the magic cookie, and a length that
/// is the rest of the datagram in whole 32-bit words).
pub fn is_stun(d: &[u8]) -> bool {
    d.len() >= 20
        && d[0] & 0xC0 == 0
        && u32::from_be_bytes([d[4], d[5], d[6], d[7]]) == MAGIC
        && usize::from(u16::from_be_bytes([d[2], d[3]])) == d.len() - 20
        && d.len().is_multiple_of(4)
}

/// The answer to a STUN Binding request received from `from`; `None` for anything else (a response, an
/// indication, another method, a malformed message), which is dropped.
pub fn binding_response(req: &[u8], from: SocketAddr) -> Option<Vec<u8>> {
    if !is_stun(req) || u16::from_be_bytes([req[0], req[1]]) != BINDING_REQUEST {
        return None;
    }
    let txid = &req[8..20];
    // Walk the attributes: they must be well formed, and a FINGERPRINT asks for one back.
    let mut fingerprint = false;
    let mut at = 20;
    while at < req.len() {
        let kind = u16::from_be_bytes([*req.get(at)?, *req.get(at + 1)?]);
        let len = usize::from(u16::from_be_bytes([*req.get(at + 2)?, *req.get(at + 3)?]));
        let end = at + 4 + len.div_ceil(4) * 4;
        if end > req.len() {
            return None;
        }
        fingerprint |= kind == FINGERPRINT;
        at = end;
    }
    let mut out = Vec::with_capacity(20 + 24 + 8);
    out.extend_from_slice(&BINDING_SUCCESS.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.extend_from_slice(txid);
    // XOR-MAPPED-ADDRESS (RFC 5389 §15.2).
    let xport = from.port() ^ ((MAGIC >> 16) as u16);
    match from.ip() {
        IpAddr::V4(ip) => {
            out.extend_from_slice(&XOR_MAPPED_ADDRESS.to_be_bytes());
            out.extend_from_slice(&8u16.to_be_bytes());
            out.extend_from_slice(&[0, 0x01]);
            out.extend_from_slice(&xport.to_be_bytes());
            out.extend_from_slice(&(u32::from(ip) ^ MAGIC).to_be_bytes());
        }
        IpAddr::V6(ip) => {
            out.extend_from_slice(&XOR_MAPPED_ADDRESS.to_be_bytes());
            out.extend_from_slice(&20u16.to_be_bytes());
            out.extend_from_slice(&[0, 0x02]);
            out.extend_from_slice(&xport.to_be_bytes());
            let mut key = [0u8; 16];
            key[..4].copy_from_slice(&MAGIC.to_be_bytes());
            key[4..].copy_from_slice(txid);
            for (o, k) in ip.octets().iter().zip(key) {
                out.push(o ^ k);
            }
        }
    }
    if fingerprint {
        // RFC 5389 §15.5: CRC-32 of the message up to the attribute, the length already counting it.
        set_len(&mut out, 8);
        let crc = crc32fast::hash(&out) ^ FINGERPRINT_XOR;
        out.extend_from_slice(&FINGERPRINT.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&crc.to_be_bytes());
    } else {
        set_len(&mut out, 0);
    }
    Some(out)
}

fn set_len(out: &mut [u8], extra: usize) {
    let len = u16::try_from(out.len() - 20 + extra).unwrap_or(u16::MAX);
    out[2..4].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(fingerprint: bool) -> Vec<u8> {
        let mut r = vec![0x00, 0x01, 0, 0];
        r.extend_from_slice(&MAGIC.to_be_bytes());
        r.extend_from_slice(b"abcdefghijkl");
        if fingerprint {
            r[3] = 8;
            let crc = crc32fast::hash(&r) ^ FINGERPRINT_XOR;
            r.extend_from_slice(&FINGERPRINT.to_be_bytes());
            r.extend_from_slice(&4u16.to_be_bytes());
            r.extend_from_slice(&crc.to_be_bytes());
        }
        r
    }

    #[test]
    fn a_binding_request_gets_the_source_address_xored_back() {
        let from: SocketAddr = "192.0.2.1:32853".parse().unwrap();
        let r = binding_response(&request(false), from).unwrap();
        assert_eq!(&r[0..2], &[0x01, 0x01]);
        assert_eq!(usize::from(u16::from_be_bytes([r[2], r[3]])), r.len() - 20);
        assert_eq!(&r[8..20], b"abcdefghijkl");
        assert_eq!(&r[20..24], &[0x00, 0x20, 0x00, 0x08]);
        let port = u16::from_be_bytes([r[26], r[27]]) ^ 0x2112;
        let ip = u32::from_be_bytes([r[28], r[29], r[30], r[31]]) ^ MAGIC;
        assert_eq!(SocketAddr::from((std::net::Ipv4Addr::from(ip), port)), from);
    }

    #[test]
    fn a_fingerprint_is_answered_with_a_valid_one_and_ipv6_is_xored_with_the_transaction() {
        let from: SocketAddr = "[2001:db8::1]:5060".parse().unwrap();
        let r = binding_response(&request(true), from).unwrap();
        assert!(is_stun(&r));
        let n = r.len();
        assert_eq!(&r[n - 8..n - 4], &[0x80, 0x28, 0x00, 0x04]);
        let crc = u32::from_be_bytes([r[n - 4], r[n - 3], r[n - 2], r[n - 1]]);
        assert_eq!(crc, crc32fast::hash(&r[..n - 8]) ^ FINGERPRINT_XOR);
        assert_eq!(r[25], 0x02);
        assert_eq!(r[28] ^ 0x21, 0x20);
    }

    #[test]
    fn sip_responses_and_malformed_stun_are_not_answered() {
        let from: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(!is_stun(b"OPTIONS sip:a@b SIP/2.0\r\n\r\n"));
        assert!(binding_response(b"OPTIONS sip:a@b SIP/2.0\r\n\r\n", from).is_none());
        let mut resp = request(false);
        resp[1] = 0x01;
        resp[0] = 0x01;
        assert!(binding_response(&resp, from).is_none());
        let mut bad = request(false);
        bad[3] = 4;
        bad.extend_from_slice(&[0x00, 0x06, 0x00, 0x40]);
        assert!(binding_response(&bad, from).is_none());
    }

    proptest::proptest! {
        #[test]
        fn any_datagram_is_answered_or_dropped_without_panic(d in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128)) {
            let _ = binding_response(&d, "127.0.0.1:9".parse().unwrap());
        }
    }
}
