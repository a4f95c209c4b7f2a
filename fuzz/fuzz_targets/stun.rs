//! STUN datagrams on the SIP UDP port: answered or dropped, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = registrar_sip::stun::binding_response(data, "192.0.2.1:5060".parse().unwrap());
    let _ = registrar_sip::stun::binding_response(data, "[2001:db8::1]:5060".parse().unwrap());
});
