//! The on-disk encoding of one AoR's bindings, one presentity's publications, one subscription, one watcher
//! decision and one buddy list entry.
//!
//! A record is a version byte, a count, then the items. Integers are little-endian; strings are a `u32` length
//! and UTF-8 bytes; an optional value is a `0`/`1` byte and the value. Identifiers are stored in their text
//! form and parsed again when read, so a record that decodes is as valid as a request that parses: a damaged
//! record is an error, never a half-valid binding.

use std::net::SocketAddr;
use std::sync::Arc;

use registrar_presence::{
    Buddy, DialogId, EventPackage, Origin, Publication, Published, Reason, SubState, Subscription,
    WatcherDecision,
};
use registrar_types::{Binding, RegId, TempGruu, Timestamp};

use crate::Error;

/// The version byte of the record layout below.
const RECORD_V1: u8 = 1;
/// Binding records from the version that keeps `+sip.pnsreg` (a flags byte after the GRUU series); version 1
/// records are still read (without it).
const BINDINGS_V2: u8 = 2;
/// A subscription record with the resources of an ad-hoc list after the V1 fields (written only when there
/// are some, so records of other subscriptions stay readable by older builds).
const SUBSCRIPTION_V2: u8 = 2;

/// Longest string accepted in a record (a contact URI with its parameters, a PIDF document).
const MAX_STR: usize = 1 << 20;

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        // Every length written is of something held in memory that fits a request; saturate rather than wrap.
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }
    fn time(&mut self, t: Timestamp) {
        self.u64(t.as_millis());
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.0.len() < n {
            return Err(Error::Corrupt("record ends early".into()));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, Error> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, Error> {
        let b = self.take(8)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn str(&mut self) -> Result<&'a str, Error> {
        let n = self.u32()? as usize;
        if n > MAX_STR {
            return Err(Error::Corrupt(format!("string of {n} bytes")));
        }
        std::str::from_utf8(self.take(n)?).map_err(|_| Error::Corrupt("string is not UTF-8".into()))
    }
    fn opt_str(&mut self) -> Result<Option<&'a str>, Error> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.str().map(Some),
            b => Err(Error::Corrupt(format!("option tag {b}"))),
        }
    }
    fn time(&mut self) -> Result<Timestamp, Error> {
        self.u64().map(Timestamp::from_millis)
    }
    fn parse<T: std::str::FromStr>(&mut self, what: &str) -> Result<T, Error> {
        let s = self.str()?;
        s.parse()
            .map_err(|_| Error::Corrupt(format!("{what} {s:?} does not parse")))
    }
    fn opt_parse<T: std::str::FromStr>(&mut self, what: &str) -> Result<Option<T>, Error> {
        match self.opt_str()? {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| Error::Corrupt(format!("{what} {s:?} does not parse"))),
        }
    }
    fn count(&mut self) -> Result<usize, Error> {
        let n = self.u32()? as usize;
        // Every item takes at least one byte: a count beyond what is left is damage, not a reason to allocate.
        if n > self.0.len() {
            return Err(Error::Corrupt(format!("count {n} exceeds the record")));
        }
        Ok(n)
    }
    fn finish(&self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Corrupt(format!(
                "{} bytes after the record",
                self.0.len()
            )))
        }
    }
}

/// One AoR's bindings as a record.
pub(crate) fn encode_bindings(set: &[Binding]) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(256 * set.len()));
    w.u8(BINDINGS_V2);
    w.len(set.len());
    for b in set {
        w.str(&b.contact.to_string());
        w.str(&b.q.to_string());
        w.time(b.expires_at);
        w.str(b.call_id.as_str());
        w.u32(b.cseq.value());
        w.opt_str(b.instance_id.as_ref().map(|i| i.as_str()));
        match b.reg_id {
            None => w.u8(0),
            Some(r) => {
                w.u8(1);
                w.u32(r.value());
            }
        }
        w.len(b.path.len());
        for p in &b.path {
            w.str(&p.to_string());
        }
        w.opt_str(b.source.map(|s| s.to_string()).as_deref());
        w.opt_str(b.transport.as_ref().map(|t| t.as_str()));
        w.opt_str(b.user_agent.as_deref());
        w.time(b.registered_at);
        w.time(b.last_refresh);
        match b.temp_gruu {
            None => w.u8(0),
            Some(t) => {
                w.u8(1);
                w.u64(t.key);
                w.u32(t.seq);
            }
        }
        w.u8(u8::from(b.pnsreg));
    }
    w.0
}

/// The bindings of a record.
pub(crate) fn decode_bindings(bytes: &[u8]) -> Result<Vec<Binding>, Error> {
    let mut r = Reader(bytes);
    let v = r.u8()?;
    if v != RECORD_V1 && v != BINDINGS_V2 {
        return Err(Error::Corrupt(format!("binding record version {v}")));
    }
    let n = r.count()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let contact = r.parse("contact")?;
        let q = r.parse("q")?;
        let expires_at = r.time()?;
        let call_id = r.parse("Call-ID")?;
        let cseq = registrar_types::CSeq::new(r.u32()?)
            .map_err(|_| Error::Corrupt("CSeq out of range".into()))?;
        let instance_id = r.opt_parse("+sip.instance")?;
        let reg_id = match r.u8()? {
            0 => None,
            1 => {
                let v = r.u32()?;
                Some(RegId::new(v).map_err(|_| Error::Corrupt(format!("reg-id {v}")))?)
            }
            b => return Err(Error::Corrupt(format!("option tag {b}"))),
        };
        let np = r.count()?;
        let mut path = Vec::with_capacity(np);
        for _ in 0..np {
            path.push(r.parse("Path URI")?);
        }
        let source: Option<SocketAddr> = r.opt_parse("source address")?;
        let transport = r.opt_parse("transport")?;
        let user_agent = r.opt_str()?.map(Arc::from);
        let registered_at = r.time()?;
        let last_refresh = r.time()?;
        let temp_gruu = match r.u8()? {
            0 => None,
            1 => Some(TempGruu {
                key: r.u64()?,
                seq: r.u32()?,
            }),
            b => return Err(Error::Corrupt(format!("option tag {b}"))),
        };
        let pnsreg = if v == BINDINGS_V2 {
            match r.u8()? {
                0 => false,
                1 => true,
                b => return Err(Error::Corrupt(format!("binding flags {b}"))),
            }
        } else {
            false
        };
        out.push(Binding {
            contact,
            q,
            expires_at,
            call_id,
            cseq,
            instance_id,
            reg_id,
            path,
            source,
            transport,
            user_agent,
            registered_at,
            last_refresh,
            temp_gruu,
            pnsreg,
        });
    }
    r.finish()?;
    Ok(out)
}

/// One presentity's publications as a record.
pub(crate) fn encode_publications(set: &[Publication]) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(1024 * set.len()));
    w.u8(RECORD_V1);
    w.len(set.len());
    for p in set {
        w.str(p.etag.as_str());
        w.str(&p.document.to_text());
        w.time(p.expires_at);
        w.time(p.published_at);
        w.time(p.changed_at);
        w.u8(match p.origin {
            Origin::Api => 1,
            Origin::Call => 2,
            _ => 0,
        });
    }
    w.0
}

/// The publications of a record.
pub(crate) fn decode_publications(bytes: &[u8]) -> Result<Vec<Publication>, Error> {
    let mut r = Reader(bytes);
    let v = r.u8()?;
    if v != RECORD_V1 {
        return Err(Error::Corrupt(format!("publication record version {v}")));
    }
    let n = r.count()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let etag = r.parse("entity-tag")?;
        let text = r.str()?;
        let document = Published::parse_stored(text)
            .map_err(|e| Error::Corrupt(format!("stored publication: {e}")))?;
        let expires_at = r.time()?;
        let published_at = r.time()?;
        let changed_at = r.time()?;
        let origin = match r.u8()? {
            0 => Origin::Sip,
            1 => Origin::Api,
            2 => Origin::Call,
            b => return Err(Error::Corrupt(format!("origin {b}"))),
        };
        out.push(Publication::restore(
            etag,
            document,
            expires_at,
            published_at,
            changed_at,
            origin,
        ));
    }
    r.finish()?;
    Ok(out)
}

/// The key of a subscription's record: its dialog's three parts (none of them holds a line feed).
pub(crate) fn dialog_key(d: &DialogId) -> String {
    format!("{}\n{}\n{}", d.call_id, d.remote_tag, d.local_tag)
}

/// One subscription as a record.
pub(crate) fn encode_subscription(s: &Subscription) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(
        256 + s.route.as_deref().map_or(0, str::len),
    ));
    w.u8(if s.resources.is_empty() {
        RECORD_V1
    } else {
        SUBSCRIPTION_V2
    });
    w.str(s.dialog.call_id.as_str());
    w.str(&s.dialog.remote_tag);
    w.str(&s.dialog.local_tag);
    w.str(s.watcher.as_str());
    w.str(s.presentity.as_str());
    w.str(s.event.as_str());
    w.time(s.expires_at);
    let (state, reason) = match s.state {
        SubState::Pending => (0, 0),
        SubState::Active => (1, 0),
        SubState::Terminated(r) => (
            2,
            match r {
                Reason::Rejected => 1,
                Reason::Deactivated => 2,
                Reason::Noresource => 3,
                Reason::Giveup => 4,
                Reason::Probation => 5,
                _ => 0,
            },
        ),
        _ => (1, 0),
    };
    w.u8(state);
    w.u8(reason);
    w.u8(decision_byte(s.decision));
    w.u32(s.notify_cseq);
    w.u64(s.version);
    w.time(s.last_notify_at);
    w.time(s.created_at);
    w.len(s.accept.len());
    for a in &s.accept {
        w.str(a);
    }
    w.opt_str(s.route.as_deref());
    if !s.resources.is_empty() {
        w.len(s.resources.len());
        for r in &s.resources {
            w.str(r.as_str());
        }
    }
    w.0
}

fn decision_byte(d: WatcherDecision) -> u8 {
    match d {
        WatcherDecision::Allow => 0,
        WatcherDecision::Block => 1,
        WatcherDecision::PoliteBlock => 2,
        _ => 3,
    }
}

fn decision_of(b: u8) -> Result<WatcherDecision, Error> {
    Ok(match b {
        0 => WatcherDecision::Allow,
        1 => WatcherDecision::Block,
        2 => WatcherDecision::PoliteBlock,
        3 => WatcherDecision::Confirm,
        b => return Err(Error::Corrupt(format!("watcher decision {b}"))),
    })
}

/// A watcher decision as a record.
pub(crate) fn encode_decision(d: WatcherDecision) -> Vec<u8> {
    vec![RECORD_V1, decision_byte(d)]
}

/// The decision of a record.
pub(crate) fn decode_decision(bytes: &[u8]) -> Result<WatcherDecision, Error> {
    match bytes {
        [RECORD_V1, b] => decision_of(*b),
        _ => Err(Error::Corrupt("watcher decision record".into())),
    }
}

/// A buddy list as a record (its owner is in the key): the entries in order.
pub(crate) fn encode_buddies(list: &[Buddy]) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(16 + 64 * list.len()));
    w.u8(RECORD_V1);
    w.len(list.len());
    for b in list {
        w.str(&b.uri.to_string());
        w.opt_str(b.display_name.as_deref());
        w.opt_str(b.group.as_deref());
    }
    w.0
}

/// The buddy list of a record.
pub(crate) fn decode_buddies(bytes: &[u8]) -> Result<Vec<Buddy>, Error> {
    let mut r = Reader(bytes);
    let v = r.u8()?;
    if v != RECORD_V1 {
        return Err(Error::Corrupt(format!("buddy list record version {v}")));
    }
    let n = r.count()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut b = Buddy::new(r.parse("buddy")?);
        if let Some(name) = r.opt_str()? {
            b = b.named(name);
        }
        if let Some(g) = r.opt_str()? {
            b = b.in_group(g);
        }
        out.push(b);
    }
    r.finish()?;
    Ok(out)
}

/// The subscription of a record.
pub(crate) fn decode_subscription(bytes: &[u8]) -> Result<Subscription, Error> {
    let mut r = Reader(bytes);
    let v = r.u8()?;
    if v != RECORD_V1 && v != SUBSCRIPTION_V2 {
        return Err(Error::Corrupt(format!("subscription record version {v}")));
    }
    let call_id = r.parse("Call-ID")?;
    let remote_tag = r.str()?;
    let local_tag = r.str()?;
    let dialog = DialogId::new(call_id, remote_tag, local_tag);
    let watcher = r.parse("watcher")?;
    let presentity = r.parse("presentity")?;
    let event = EventPackage::from_header(r.str()?);
    let expires_at = r.time()?;
    let (state, reason) = (r.u8()?, r.u8()?);
    let state = match (state, reason) {
        (0, _) => SubState::Pending,
        (1, _) => SubState::Active,
        (2, 0) => SubState::Terminated(Reason::Timeout),
        (2, 1) => SubState::Terminated(Reason::Rejected),
        (2, 2) => SubState::Terminated(Reason::Deactivated),
        (2, 3) => SubState::Terminated(Reason::Noresource),
        (2, 4) => SubState::Terminated(Reason::Giveup),
        (2, 5) => SubState::Terminated(Reason::Probation),
        (s, r) => return Err(Error::Corrupt(format!("subscription state {s}/{r}"))),
    };
    let decision = decision_of(r.u8()?)?;
    let notify_cseq = r.u32()?;
    let version = r.u64()?;
    let last_notify_at = r.time()?;
    let created_at = r.time()?;
    let n = r.count()?;
    let mut accept = Vec::with_capacity(n);
    for _ in 0..n {
        accept.push(r.str()?.to_owned());
    }
    let route = r.opt_str()?.map(Arc::from);
    let mut resources = Vec::new();
    if v == SUBSCRIPTION_V2 {
        let n = r.count()?;
        resources.reserve(n);
        for _ in 0..n {
            resources.push(r.parse("resource")?);
        }
    }
    r.finish()?;
    let mut s = Subscription::new(dialog, watcher, presentity, event, expires_at, created_at);
    s.state = state;
    s.decision = decision;
    s.notify_cseq = notify_cseq;
    s.version = version;
    s.last_notify_at = last_notify_at;
    s.accept = accept;
    s.route = route;
    s.resources = resources;
    Ok(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;
    use registrar_types::{CSeq, QValue};

    use super::*;

    fn binding(full: bool) -> Binding {
        Binding {
            contact: "sip:alice@192.0.2.10:5060;transport=tcp;ob"
                .parse()
                .unwrap(),
            q: "0.7".parse().unwrap(),
            expires_at: Timestamp::from_millis(1_700_000_600_123),
            call_id: "a84b4c76e66710@pc33.atlanta.com".parse().unwrap(),
            cseq: CSeq::new(314_159).unwrap(),
            instance_id: full.then(|| {
                "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"
                    .parse()
                    .unwrap()
            }),
            reg_id: full.then(|| "1".parse().unwrap()),
            path: if full {
                vec!["sip:p1.example.com;lr".parse().unwrap()]
            } else {
                Vec::new()
            },
            source: full.then(|| "192.0.2.10:5060".parse().unwrap()),
            transport: full.then(|| "TCP".parse().unwrap()),
            user_agent: full.then(|| Arc::from("baresip v1.0.0 (x86_64/linux)")),
            registered_at: Timestamp::from_millis(1_700_000_000_000),
            last_refresh: Timestamp::from_millis(1_700_000_000_123),
            temp_gruu: full.then_some(TempGruu { key: 42, seq: 3 }),
            pnsreg: full,
        }
    }

    #[test]
    fn bindings_round_trip() {
        let set = vec![binding(true), binding(false)];
        let bytes = encode_bindings(&set);
        assert_eq!(decode_bindings(&bytes).unwrap(), set);
        assert_eq!(decode_bindings(&encode_bindings(&[])).unwrap(), Vec::new());
        let mut b = binding(false);
        b.q = QValue::ONE;
        assert_eq!(
            decode_bindings(&encode_bindings(&[b.clone()])).unwrap(),
            [b]
        );
    }

    #[test]
    fn version_1_binding_records_still_read() {
        // A record written before `+sip.pnsreg` was kept: version 1, no flags byte.
        let b = binding(false);
        let mut bytes = encode_bindings(std::slice::from_ref(&b));
        assert_eq!(
            bytes.pop(),
            Some(0),
            "the flags byte ends a version 2 record"
        );
        bytes[0] = RECORD_V1;
        assert_eq!(decode_bindings(&bytes).unwrap(), [b]);
        let mut bad = encode_bindings(&[binding(true)]);
        *bad.last_mut().unwrap() = 7;
        assert!(decode_bindings(&bad).is_err());
    }

    #[test]
    fn subscriptions_round_trip() {
        let dialog = DialogId::new("c1@h".parse().unwrap(), "from-tag", "to-tag");
        for (state, decision, route) in [
            (SubState::Active, WatcherDecision::Allow, Some("peer data")),
            (SubState::Pending, WatcherDecision::Confirm, None),
            (
                SubState::Terminated(Reason::Rejected),
                WatcherDecision::PoliteBlock,
                None,
            ),
        ] {
            let mut s = Subscription::new(
                dialog.clone(),
                "sip:bob@example.com".parse().unwrap(),
                "sip:alice@example.com".parse().unwrap(),
                EventPackage::PresenceWinfo,
                Timestamp::from_millis(9_000),
                Timestamp::from_millis(1_000),
            );
            s.state = state;
            s.decision = decision;
            s.notify_cseq = 7;
            s.version = 3;
            s.accept = vec!["application/watcherinfo+xml".to_owned()];
            s.route = route.map(Arc::from);
            let bytes = encode_subscription(&s);
            assert_eq!(bytes[0], RECORD_V1, "older builds read it");
            assert_eq!(decode_subscription(&bytes).unwrap(), s);
            assert!(decode_subscription(&bytes[..bytes.len() - 1]).is_err());
            // An ad-hoc list subscription (RFC 5367) keeps its resources.
            s.resources = vec![
                "sip:pat@example.com".parse().unwrap(),
                "sip:quinn@example.com".parse().unwrap(),
            ];
            let bytes = encode_subscription(&s);
            assert_eq!(bytes[0], SUBSCRIPTION_V2);
            assert_eq!(decode_subscription(&bytes).unwrap(), s);
            assert!(decode_subscription(&bytes[..bytes.len() - 1]).is_err());
        }
        assert_eq!(dialog_key(&dialog), "c1@h\nfrom-tag\nto-tag");
    }

    #[test]
    fn publications_round_trip() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:alice@example.com">
  <tuple id="t1"><status><basic>open</basic></status><note>at my desk</note></tuple>
</presence>"#;
        let p = Publication::restore(
            "abc123".parse().unwrap(),
            Arc::new(registrar_pidf::Presence::parse(xml.as_bytes()).unwrap()),
            Timestamp::from_millis(5_000),
            Timestamp::from_millis(1_000),
            Timestamp::from_millis(2_000),
            Origin::Api,
        );
        // A dialog-info and a message-summary publication are kept beside it, each read back as its kind.
        let dialogs = r#"<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="3" state="full" entity="sip:alice@example.com"><dialog id="d1" call-id="c1" local-tag="l" remote-tag="r" direction="initiator"><state>confirmed</state></dialog></dialog-info>"#;
        let d = Publication::restore(
            "def456".parse().unwrap(),
            Published::parse_stored(dialogs).unwrap(),
            Timestamp::from_millis(5_000),
            Timestamp::from_millis(1_000),
            Timestamp::from_millis(2_000),
            Origin::Call,
        );
        assert!(matches!(d.document, Published::Dialogs(_)));
        let summary = "Messages-Waiting: yes\r\nMessage-Account: sip:alice@example.com\r\nVoice-Message: 2/8 (0/2)\r\n";
        let m = Publication::restore(
            "0a1b2c".parse().unwrap(),
            Published::parse_stored(summary).unwrap(),
            Timestamp::from_millis(5_000),
            Timestamp::from_millis(1_000),
            Timestamp::from_millis(3_000),
            Origin::Sip,
        );
        assert!(matches!(m.document, Published::Summary(_)));
        let set = vec![p, d, m];
        assert_eq!(
            decode_publications(&encode_publications(&set)).unwrap(),
            set
        );
    }

    #[test]
    fn damage_is_an_error() {
        let bytes = encode_bindings(&[binding(true)]);
        for cut in 0..bytes.len() {
            assert!(decode_bindings(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_bindings(&longer).is_err());
        let mut v3 = bytes;
        v3[0] = 3;
        assert!(decode_bindings(&v3).is_err(), "an unknown record version");
    }

    proptest! {
        /// Arbitrary bytes never panic the decoders.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_bindings(&bytes);
            let _ = decode_publications(&bytes);
        }
    }
}
