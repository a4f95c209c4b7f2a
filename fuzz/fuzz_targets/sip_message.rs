//! Arbitrary bytes into the SIP adapter: the parser, the stream framer, and the whole endpoint (parse,
//! transactions, service calls, response building) as a datagram and as a stream message. Nothing may panic.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use registrar_registry::MemoryLocationStore;
use registrar_presence::MemoryPresenceStore;
use registrar_service::RegistrarService;
use registrar_sip::{Endpoint, Limits, Message, Peer, SipConfig, frame_len};

type Ep = Endpoint<MemoryLocationStore, MemoryPresenceStore>;

fn setup() -> &'static (tokio::runtime::Runtime, Ep) {
    static S: OnceLock<(tokio::runtime::Runtime, Ep)> = OnceLock::new();
    S.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let ep = rt.block_on(async {
            let svc = RegistrarService::builder().build().expect("service");
            Endpoint::new(svc, SipConfig::default())
        });
        (rt, ep)
    })
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let _ = frame_len(data, limits);
    let _ = Message::parse(Bytes::copy_from_slice(data), limits);
    let (rt, ep) = setup();
    let from: SocketAddr = "192.0.2.10:5060".parse().expect("addr");
    let local: SocketAddr = "192.0.2.1:5060".parse().expect("addr");
    rt.block_on(async {
        let now = ep.service().now();
        let _ = ep.handle(now, Peer::udp(from), local, Bytes::copy_from_slice(data)).await;
        let _ = ep.handle(now, Peer::tcp(from, 1), local, Bytes::copy_from_slice(data)).await;
        let _ = ep.poll(now).await;
    });
});
