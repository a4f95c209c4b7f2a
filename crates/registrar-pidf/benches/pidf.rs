//! Parse and build of a typical 1 KiB presence document (a phone's PUBLISH with RPID and a person), reported
//! in bytes per second.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use registrar_pidf::{DialogInfo, Document, MessageSummary, Presence, Source, compose};

/// About 1 KiB: what a desk phone or softphone publishes.
const TYPICAL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf"
          xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
          xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid"
          xmlns:c="urn:ietf:params:xml:ns:pidf:cipid"
          entity="sip:alice@example.com">
  <tuple id="t5a5ed77e-desk">
    <status>
      <basic>open</basic>
    </status>
    <dm:deviceID>urn:uuid:d27459b7-8213-4395-aa77-ed859a3e5b3a</dm:deviceID>
    <contact priority="0.8">sip:alice@192.0.2.10:5060;transport=udp</contact>
    <note xml:lang="en">At my desk, call me</note>
    <timestamp>2026-11-21T09:12:44Z</timestamp>
  </tuple>
  <dm:person id="p06360c4a">
    <rpid:activities>
      <rpid:on-the-phone/>
    </rpid:activities>
    <rpid:mood>
      <rpid:happy/>
    </rpid:mood>
    <rpid:place-type><rpid:office xmlns:rpid="urn:ietf:params:xml:ns:location-type"/></rpid:place-type>
    <c:display-name>Alice Lewis</c:display-name>
    <dm:note>Talking to the web team</dm:note>
    <dm:timestamp>2026-11-21T09:12:44Z</dm:timestamp>
  </dm:person>
  <dm:device id="pc147">
    <rpid:user-input idle-threshold="600">active</rpid:user-input>
    <dm:deviceID>urn:uuid:d27459b7-8213-4395-aa77-ed859a3e5b3a</dm:deviceID>
  </dm:device>
</presence>
"#;

fn parse_and_build(c: &mut Criterion) {
    let bytes = TYPICAL.as_bytes();
    let mut g = c.benchmark_group("pidf");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("parse_1k", |b| {
        b.iter(|| Presence::parse(black_box(bytes)).unwrap())
    });
    g.bench_function("parse_any_1k", |b| {
        b.iter(|| Document::parse(black_box(bytes)).unwrap())
    });
    let doc = Presence::parse(bytes).unwrap();
    g.bench_function("build_1k", |b| b.iter(|| black_box(&doc).to_xml()));
    let sources: Vec<_> = (0..3)
        .map(|i| Source {
            presence: &doc,
            updated: i,
            tag: ["a", "b", "c"][i as usize],
        })
        .collect();
    g.bench_function("compose_3_publications", |b| {
        b.iter(|| compose("sip:alice@example.com", black_box(&sources)))
    });
    g.finish();
}

/// What a PBX publishes for a receptionist's line with a call up and one ringing (about 1 KiB).
const DIALOG_INFO: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="42" state="full" entity="sip:reception@example.com">
  <dialog id="as7d900as8" call-id="a84b4c76e66710@pc33.example.com" local-tag="1928301774" remote-tag="456887766" direction="recipient">
    <state>confirmed</state>
    <duration>274</duration>
    <local>
      <identity display="Reception">sip:reception@example.com</identity>
      <target uri="sip:reception@192.0.2.10:5060;transport=udp"><param pname="+sip.rendering" pval="yes"/></target>
    </local>
    <remote>
      <identity display="Bob Stone">sip:bob@example.org</identity>
      <target uri="sip:bob@198.51.100.7:5060"/>
    </remote>
  </dialog>
  <dialog id="zxcvbnm3" call-id="7b2a9f5c01@pbx.example.com" local-tag="8bd7e3" direction="recipient">
    <state>early</state>
    <local>
      <identity>sip:reception@example.com</identity>
    </local>
    <remote>
      <identity display="Carol Diaz">sip:carol@example.net</identity>
    </remote>
  </dialog>
</dialog-info>
"#;

fn event_packages(c: &mut Criterion) {
    let bytes = DIALOG_INFO.as_bytes();
    let mut g = c.benchmark_group("dialog_info");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("parse_1k", |b| {
        b.iter(|| DialogInfo::parse(black_box(bytes)).unwrap())
    });
    let doc = DialogInfo::parse(bytes).unwrap();
    g.bench_function("build_1k", |b| b.iter(|| black_box(&doc).to_xml()));
    g.finish();
    let summary = b"Messages-Waiting: yes\r\nMessage-Account: sip:alice@vmail.example.com\r\nVoice-Message: 2/8 (0/2)\r\nFax-Message: 0/1\r\n";
    let mut g = c.benchmark_group("message_summary");
    g.throughput(Throughput::Bytes(summary.len() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| MessageSummary::parse(black_box(summary)).unwrap())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = parse_and_build, event_packages
}
criterion_main!(benches);
