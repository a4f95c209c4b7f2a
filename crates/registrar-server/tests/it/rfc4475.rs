//! RFC 4475 torture messages, each sent to the running server over UDP: a correct answer for the valid
//! ones, 400 or silence for the invalid ones (505 and 416 where the RFC names them), and the server alive
//! afterwards. Fixtures: `tests/fixtures/rfc4475/*.dat`, transcribed from RFC 4475 §3 (see the README there).

use std::time::Duration;

use crate::support::{Server, fixtures, options, status_of};

/// (fixture, acceptable answers; 0 means no answer).
const CASES: &[(&str, &[u16])] = &[
    // §3.1.1 valid messages: parsed and answered as this server answers their method.
    ("wsinv", &[405]),
    ("intmeth", &[405]),
    ("esc01", &[405]),
    ("escnull", &[200]),
    ("esc02", &[405]),
    ("lwsdisp", &[200]),
    ("longreq", &[405]),
    ("dblreq", &[200]),
    ("semiuri", &[200]),
    ("transports", &[200]),
    ("unreason", &[0]),
    ("noreason", &[0]),
    // §3.1.2 invalid messages.
    ("badinv01", &[400, 0]),
    ("clerr", &[400, 0]),
    ("ncl", &[400, 0]),
    ("scalar02", &[400, 0]),
    ("scalarlg", &[0]),
    ("quotbal", &[400, 0]),
    ("ltgtruri", &[400, 0]),
    ("lwsruri", &[400, 0]),
    ("lwsstart", &[400, 0]),
    ("trws", &[400, 0]),
    ("escruri", &[400, 0]),
    ("baddate", &[400, 0]),
    ("regbadct", &[400, 0]),
    ("badaspec", &[400, 0]),
    ("baddn", &[400, 0]),
    ("badvers", &[505, 400, 0]),
    ("mismatch01", &[400, 0]),
    ("mismatch02", &[400, 0]),
    ("multi01", &[400, 0]),
    ("mcl01", &[400, 0]),
    ("bcast", &[0]),
    ("bigcode", &[0]),
    ("insuf", &[0]),
    // §3.2 transaction layer, §3.3 application layer, §3.4 backwards compatibility.
    ("badbranch", &[200]),
    ("unkscm", &[416]),
    ("novelsc", &[416]),
    ("unksm2", &[400, 416]),
    ("bext01", &[420]),
    ("invut", &[405]),
    ("regaut01", &[200]),
    ("cparam01", &[200]),
    ("cparam02", &[200]),
    ("regescrt", &[200]),
    ("sdp01", &[405]),
    ("inv2543", &[405]),
];

#[test]
fn every_torture_message_gets_a_right_answer_and_the_server_survives() {
    let mut server = Server::start("rate_limit_per_source = 0", "");
    let mut failures = Vec::new();
    for (name, ok) in CASES {
        let data =
            with_rport(&std::fs::read(fixtures().join(format!("rfc4475/{name}.dat"))).unwrap());
        let answer = server.udp(&data, Duration::from_millis(400));
        let status = answer.as_deref().map_or(0, status_of);
        if !ok.contains(&status) {
            failures.push(format!(
                "{name}: got {status}, want one of {ok:?}: {}",
                answer
                    .unwrap_or_default()
                    .lines()
                    .take(12)
                    .collect::<Vec<_>>()
                    .join(" | ")
            ));
        }
        if status == 400 {
            let a = server
                .udp(&data, Duration::from_millis(400))
                .unwrap_or_default();
            assert!(
                a.contains("Warning: 399"),
                "{name}: a 400 names the problem: {a}"
            );
        }
    }
    assert!(server.alive(), "the server died: {}", server.log());
    let probe = server.udp(options("alive").as_bytes(), Duration::from_secs(2));
    assert_eq!(probe.as_deref().map(status_of), Some(200));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The message with `;rport` added to its top Via, so that the answer comes back to the test's socket
/// (RFC 3581) rather than to port 5060 of the sent-by host; every other byte is the fixture's.
fn with_rport(data: &[u8]) -> Vec<u8> {
    let Some(head_end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
        return data.to_vec();
    };
    let mut pos = 0;
    while pos < head_end {
        let line_end = data[pos..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(head_end, |p| pos + p);
        let line = &data[pos..line_end];
        let name: Vec<u8> = line
            .iter()
            .take_while(|b| **b != b':')
            .map(u8::to_ascii_lowercase)
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        if pos > 0 && (name == b"via" || name == b"v") && line.contains(&b':') {
            // The logical header runs until a CRLF not followed by white space.
            let mut end = line_end;
            while end + 2 < data.len() && (data[end + 2] == b' ' || data[end + 2] == b'\t') {
                end = data[end + 2..]
                    .windows(2)
                    .position(|w| w == b"\r\n")
                    .map_or(head_end, |p| end + 2 + p);
            }
            let value = &data[pos..end];
            let insert_at = value
                .iter()
                .position(|b| *b == b',')
                .map_or(end, |c| pos + c);
            let mut out = data[..insert_at].to_vec();
            out.extend_from_slice(b";rport");
            out.extend_from_slice(&data[insert_at..]);
            return out;
        }
        pos = line_end + 2;
    }
    data.to_vec()
}
