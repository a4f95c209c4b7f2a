//! Any bytes as a federated lookup (what a peer sends) and as a peer's answer (what this server reads): never
//! a panic; a lookup that parses is answered for every trust level within its limits, and any answer merges
//! into a ranked, deduplicated result no longer than asked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registrar_directory::federation::{
    AskingPeer, LookupRequest, LookupResponse, MAX_CANDIDATES, PeerTrust, merge, remote_requester,
};
use registrar_directory::model::EntityType;
use registrar_directory::{
    Availability, Directory, MemorySearchIndex, Participant, ParticipantId, Resolution,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = serde_json::from_slice::<LookupRequest>(data) {
        let mut d = Directory::new(MemorySearchIndex::new());
        for (i, name) in ["Alice Martin", "Bob Builder", "Carol Zephyr"].iter().enumerate() {
            let id = ParticipantId::parse(&format!("p{i}@here.example")).expect("id");
            d.put_participant(Participant::new(id, EntityType::Human, *name))
                .expect("a short name");
        }
        let domains = ["there.example".to_owned()];
        for trust in [
            PeerTrust::Blocked,
            PeerTrust::Restricted,
            PeerTrust::Provisional,
            PeerTrust::Verified,
            PeerTrust::Trusted,
        ] {
            let peer = AskingPeer { id: "peer", domains: &domains, trust };
            let (Some(requester), Ok(q)) = (remote_requester(&peer, &req), req.query()) else {
                continue;
            };
            let (r, _) = d.resolve(&requester, &q, &|_| Availability::Available, 0);
            assert!(r.candidates().len() <= MAX_CANDIDATES);
        }
    }
    if let Ok(answer) = serde_json::from_slice::<LookupResponse>(data) {
        let m = merge(
            Resolution::Suggestions(Vec::new()),
            vec![("peer".into(), answer.candidates)],
            Vec::new(),
            5,
        );
        assert!(m.candidates.len() <= 5);
        for w in m.candidates.windows(2) {
            assert!(w[0].candidate.score >= w[1].candidate.score);
        }
    }
});
