//! No answer tells a hidden participant from a missing one: for random populations, rules, relationships and
//! requesters, every operation that takes a participant id (profile view, contact permission, contact
//! request, rating, priority, relationship) answers for a participant the requester may not see exactly as it
//! answers for an id that does not exist (the same outcome, the same message with the id asked, the same
//! audit decision).

use proptest::prelude::*;
use registrar_directory::model::{Relationship, RelationshipKind, TrustCategory, TrustRating};
use registrar_directory::priority::Message;
use registrar_directory::privacy::How;
use registrar_directory::{
    Directory, DirectoryChange, Error, MemorySearchIndex, Participant, ParticipantId,
};

use crate::privacy_property::{N, build, pid, rules};

/// An outcome as text, with the id asked replaced, so a hidden and a missing id compare.
fn outcome<T: std::fmt::Debug>(r: &Result<T, Error>, asked: &ParticipantId) -> String {
    match r {
        Ok(v) => format!("ok {v:?}"),
        Err(e) => format!("error {e}"),
    }
    .replace(asked.as_str(), "<id>")
}

fn decisions(changes: &[DirectoryChange]) -> Vec<String> {
    changes
        .iter()
        .filter_map(|c| match c {
            DirectoryChange::Audit(e) => Some(format!("{:?} {}", e.action, e.decision)),
            _ => None,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_hidden_participant_is_answered_as_a_missing_one(
        all in proptest::collection::vec(rules(), N),
        rels in proptest::collection::vec((0usize..N, 0usize..N, any::<bool>()), 0..10),
        who in 0usize..N,
        target in 0usize..N,
    ) {
        let mut d = Directory::new(MemorySearchIndex::new());
        let people: Vec<Participant> = all.iter().enumerate().map(|(i, r)| build(i, r)).collect();
        for p in &people {
            d.put_participant(p.clone()).unwrap();
        }
        for &(a, b, mutual) in rels.iter().filter(|(a, b, _)| a != b) {
            d.put_relationship(Relationship { from: pid(a), to: pid(b), kind: RelationshipKind::Colleague, mutual }).unwrap();
        }
        let req = d.requester(Some(&pid(who)));
        let hidden = pid(target);
        if who == target || d.decide(&people[target], &req, How::ExactId).visible {
            return Ok(());
        }
        let missing = ParticipantId::parse(&format!("ghost{target}@d{}.example", target % 3)).unwrap();
        let ask = |d: &mut Directory<MemorySearchIndex>, id: &ParticipantId| -> Vec<String> {
            let (view, audit) = d.view(&req, id, 0);
            let (perm, perm_audit) = d.contact_permission(&req, id, 0);
            let contact = d.ask_contact(&req, id, "hello", 0).map(|(c, _)| c.state);
            let rating = d.put_rating_as(&req, TrustRating {
                rater: pid(who),
                ratee: id.clone(),
                category: TrustCategory::Overall,
                score: 90,
            });
            let priority = d.prioritize_as(&req, &Message {
                sender: Some(pid(who)),
                recipient: id.clone(),
                text: "hello".into(),
                topic: None,
                at_ms: 0,
            });
            let relationship = d.put_relationship_as(&req, Relationship {
                from: pid(who),
                to: id.clone(),
                kind: RelationshipKind::Friend,
                mutual: false,
            });
            vec![
                format!("view {view:?} {:?}", decisions(&audit)),
                format!("permission {perm:?} {:?}", decisions(&perm_audit)),
                outcome(&contact, id),
                outcome(&rating.map(|_| ()), id),
                outcome(&priority, id),
                outcome(&relationship.map(|_| ()), id),
            ]
        };
        let for_hidden = ask(&mut d, &hidden);
        let for_missing = ask(&mut d, &missing);
        prop_assert_eq!(for_hidden, for_missing);
    }
}
