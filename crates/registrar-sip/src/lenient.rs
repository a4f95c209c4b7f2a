//! Answering what could not be parsed: a 400 (or 416, 505, 513) built from the raw header lines, when the
//! five headers a response needs (Via, From, To, Call-ID, CSeq) can be found as text at all.

use crate::Error;
use registrar_core::sip::{reason_phrase, warning};

/// The response bytes for an unparseable request, or `None` when it cannot be answered (a response, no
/// request line, or a header a response must copy is missing).
pub(crate) fn answer(data: &[u8], e: &Error, server: &str) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(data)
        .replace("\r\n ", " ")
        .replace("\r\n\t", " ")
        .replace("\n ", " ");
    let head = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .split("\n\n")
        .next()
        .unwrap_or("");
    let mut lines = head.lines();
    let first = lines.next()?.trim();
    if first.is_empty() || first.starts_with("SIP/") || !first.contains(' ') {
        return None;
    }
    let mut vias = Vec::new();
    let (mut from, mut to, mut call_id, mut cseq) = (None, None, None, None);
    let mut count = 0;
    for line in lines {
        count += 1;
        if count > 256 {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "via" | "v" => vias.push(value),
            "from" | "f" if from.is_none() => from = Some(value),
            "to" | "t" if to.is_none() => to = Some(value),
            "call-id" | "i" if call_id.is_none() => call_id = Some(value),
            "cseq" if cseq.is_none() => cseq = Some(value),
            _ => {}
        }
    }
    let (Some(from), Some(to), Some(call_id), Some(cseq)) = (from, to, call_id, cseq) else {
        return None;
    };
    if vias.is_empty() || cseq.split_whitespace().nth(1) == Some("ACK") {
        return None;
    }
    let status = e.status();
    let reason = reason_phrase(status);
    let mut out = format!("SIP/2.0 {status} {reason}\r\n");
    for v in vias {
        out.push_str("Via: ");
        out.push_str(v);
        out.push_str("\r\n");
    }
    let tag = if to.contains("tag=") { "" } else { ";tag=400" };
    out.push_str(&format!(
        "From: {from}\r\nTo: {to}{tag}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\nWarning: {}\r\nServer: {server}\r\nContent-Length: 0\r\n\r\n",
        warning(&e.to_string())
    ));
    Some(out.into_bytes())
}
