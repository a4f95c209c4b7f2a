//! Buddy lists: managed entries, automatic same-domain lists, and the presence of a whole list at once.

use registrar_pidf::Basic;
use registrar_presence::{
    Buddy, BuddyLists, BuddyPresence, PublishRequest, SubscriptionPolicy, Subscriptions,
    WatcherDecision,
};

use crate::support::*;

const BOB: &str = "sip:bob@example.com";
const CAROL: &str = "sip:carol@example.com";
const EVE: &str = "sip:eve@elsewhere.example.org";

#[test]
fn add_update_remove_list() {
    let b = BuddyLists::default();
    assert!(
        b.add(
            &aor(ALICE),
            Buddy::new(aor(BOB)).named("Bob").in_group("Team")
        )
        .unwrap()
    );
    assert!(b.add(&aor(ALICE), Buddy::new(aor(CAROL))).unwrap());
    assert!(
        !b.add(&aor(ALICE), Buddy::new(aor(BOB)).named("Robert"))
            .unwrap(),
        "an update, not a duplicate"
    );
    let list = b.list(&aor(ALICE));
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].display_name.as_deref(), Some("Robert"));
    assert_eq!(b.holders_of(&aor(BOB)), [aor(ALICE)]);
    assert!(b.remove(&aor(ALICE), &aor(BOB)));
    assert!(!b.remove(&aor(ALICE), &aor(BOB)));
    assert!(b.holders_of(&aor(BOB)).is_empty());
    assert_eq!(b.list(&aor(ALICE)).len(), 1);
}

#[test]
fn list_limit() {
    let b = BuddyLists::new(1);
    b.add(&aor(ALICE), Buddy::new(aor(BOB))).unwrap();
    let err = b.add(&aor(ALICE), Buddy::new(aor(CAROL))).unwrap_err();
    assert_eq!(err.sip_status(), 503);
}

/// Automatic lists: users of one domain are added to each other's lists on first registration, once.
#[test]
fn automatic_same_domain_lists_without_duplicates() {
    let b = BuddyLists::default();
    assert!(b.join_domain(&aor(ALICE)).is_empty());
    assert_eq!(b.join_domain(&aor(BOB)), [aor(ALICE)]);
    assert!(
        b.join_domain(&aor(BOB)).is_empty(),
        "re-registration changes nothing"
    );
    assert_eq!(b.join_domain(&aor(CAROL)).len(), 2);
    assert!(b.join_domain(&aor(EVE)).is_empty(), "another domain");
    let alice: Vec<_> = b.list(&aor(ALICE)).into_iter().map(|x| x.uri).collect();
    assert_eq!(alice, [aor(BOB), aor(CAROL)]);
    assert_eq!(b.list(&aor(BOB)).len(), 2);
    assert!(b.list(&aor(EVE)).is_empty());
}

/// The whole list in one call, each buddy as its rules let the owner see it.
#[tokio::test]
async fn presence_of_a_whole_list_respects_watcher_rules() {
    let p = presences();
    let s = Subscriptions::new(SubscriptionPolicy::default()).unwrap();
    let b = BuddyLists::default();
    for who in [BOB, CAROL, EVE] {
        p.publish(T0, &PublishRequest::initial(aor(who), &pidf("t", "open")))
            .await
            .unwrap();
        b.add(&aor(ALICE), Buddy::new(aor(who))).unwrap();
    }
    let doc = p.presence(&aor(CAROL), T0).await.unwrap().xml.clone();
    s.authorize_watcher(
        &aor(CAROL),
        &aor(ALICE),
        WatcherDecision::PoliteBlock,
        &doc,
        T0,
    );
    let view = b.presence_of_list(&aor(ALICE), &p, &s, T0).await.unwrap();
    assert_eq!(view.len(), 3);
    match &view[0].1 {
        BuddyPresence::Visible(c) => assert_eq!(c.document.basic(), Some(Basic::Open)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        view[1].1,
        BuddyPresence::Closed,
        "politely blocked: never the real state"
    );
    assert_eq!(
        view[2].1,
        BuddyPresence::Pending,
        "another domain: waiting for a decision"
    );
}
