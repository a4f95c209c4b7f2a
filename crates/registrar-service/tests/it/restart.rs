//! Subscriptions kept in a `SubscriptionStore` outlive the service: a new service restores them and tells
//! each watcher the current state.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use registrar_presence::{
    Buddy, BuddyPresence, DialogId, Error as PresenceError, EventPackage, RESUME_GAP,
    StoredPresence, SubState, SubscribeRequest, Subscription, SubscriptionChange,
    SubscriptionStore, WatcherDecision,
};
use registrar_service::RegistrarService;
use registrar_types::Aor;

use crate::support::{ALICE, BOB, Harness, aor, dialog, publish, subscribe};

/// Records changes in maps (as a durable store would), and can be told to fail.
#[derive(Default)]
struct MapStore {
    map: Mutex<BTreeMap<DialogId, Subscription>>,
    lists: Mutex<BTreeMap<DialogId, Subscription>>,
    rules: Mutex<BTreeMap<(Aor, Aor), WatcherDecision>>,
    buddies: Mutex<BTreeMap<Aor, Vec<Buddy>>>,
    joined: Mutex<Vec<Aor>>,
    fail: Mutex<bool>,
}

#[async_trait]
impl SubscriptionStore for MapStore {
    async fn save(&self, changes: &[SubscriptionChange]) -> Result<(), PresenceError> {
        if *self.fail.lock().unwrap() {
            return Err(PresenceError::Storage("disk full".into()));
        }
        for c in changes {
            match c {
                SubscriptionChange::Put(s) => {
                    self.map.lock().unwrap().insert(s.dialog.clone(), s.clone());
                }
                SubscriptionChange::Remove(d) => {
                    self.map.lock().unwrap().remove(d);
                }
                SubscriptionChange::PutList(s) => {
                    self.lists
                        .lock()
                        .unwrap()
                        .insert(s.dialog.clone(), s.clone());
                }
                SubscriptionChange::RemoveList(d) => {
                    self.lists.lock().unwrap().remove(d);
                }
                SubscriptionChange::Rule {
                    presentity,
                    watcher,
                    decision,
                } => {
                    self.rules
                        .lock()
                        .unwrap()
                        .insert((presentity.clone(), watcher.clone()), *decision);
                }
                SubscriptionChange::Buddies { owner, list } => {
                    let mut b = self.buddies.lock().unwrap();
                    if list.is_empty() {
                        b.remove(owner);
                    } else {
                        b.insert(owner.clone(), list.clone());
                    }
                }
                SubscriptionChange::Joined(u) => self.joined.lock().unwrap().push(u.clone()),
                other => panic!("unknown change {other:?}"),
            }
        }
        Ok(())
    }
    async fn load(&self) -> Result<StoredPresence, PresenceError> {
        let mut out = StoredPresence::default();
        out.subscriptions = self.map.lock().unwrap().values().cloned().collect();
        out.lists = self.lists.lock().unwrap().values().cloned().collect();
        out.rules = self
            .rules
            .lock()
            .unwrap()
            .iter()
            .map(|((p, w), d)| (p.clone(), w.clone(), *d))
            .collect();
        out.buddies = self
            .buddies
            .lock()
            .unwrap()
            .iter()
            .map(|(o, l)| (o.clone(), l.clone()))
            .collect();
        out.joined = self.joined.lock().unwrap().clone();
        Ok(out)
    }
    async fn rules_of(
        &self,
        presentity: &Aor,
    ) -> Result<Vec<(Aor, WatcherDecision)>, PresenceError> {
        Ok(self
            .rules
            .lock()
            .unwrap()
            .iter()
            .filter(|((p, _), _)| p == presentity)
            .map(|((_, w), d)| (w.clone(), *d))
            .collect())
    }
    async fn buddies_of(&self, owner: &Aor) -> Result<Vec<Buddy>, PresenceError> {
        Ok(self
            .buddies
            .lock()
            .unwrap()
            .get(owner)
            .cloned()
            .unwrap_or_default())
    }
}

fn harness(store: &Arc<MapStore>) -> Harness {
    Harness::with(RegistrarService::builder().subscription_store(store.clone()))
}

#[tokio::test]
async fn subscriptions_are_stored_and_resumed_with_the_current_state() {
    let store = Arc::new(MapStore::default());
    let mut a = harness(&store);
    let mut req = subscribe(1, BOB, ALICE);
    req.route = Some(Arc::from("route-of-dialog-1"));
    a.svc.subscribe(&req, false).await.unwrap();
    let reg = SubscribeRequest::new(dialog(2), aor(ALICE), aor(ALICE))
        .event(EventPackage::Reg)
        .expires(600);
    a.svc.subscribe(&reg, false).await.unwrap();
    let first = a.take_notifies();
    assert_eq!(store.map.lock().unwrap().len(), 2);
    // Unsubscribed ones are removed from the store.
    a.svc
        .subscribe(&subscribe(3, BOB, ALICE), false)
        .await
        .unwrap();
    a.svc.unsubscribe(&dialog(3)).await.unwrap();
    assert_eq!(store.map.lock().unwrap().len(), 2);

    // A new process: presence was published meanwhile through the same stores' successor.
    let mut b = harness(&store);
    b.svc
        .publish(&publish(ALICE, "t1", "open", "back"))
        .await
        .unwrap();
    b.take_notifies();
    let stored = store.load().await.unwrap();
    assert_eq!(b.svc.restore_subscriptions(stored).await.unwrap(), 2);
    let resumed = b.take_notifies();
    assert_eq!(resumed.len(), 2);
    let presence = resumed.iter().find(|n| n.dialog == dialog(1)).unwrap();
    assert_eq!(presence.state.state, SubState::Active);
    assert!(presence.body.as_ref().unwrap().contains("back"));
    let before = first.iter().find(|n| n.dialog == dialog(1)).unwrap().cseq;
    assert!(
        presence.cseq > before + RESUME_GAP,
        "CSeq jumps past anything unrecorded"
    );
    let reginfo = resumed.iter().find(|n| n.dialog == dialog(2)).unwrap();
    assert!(reginfo.body.as_ref().unwrap().contains("state=\"full\""));
    // The route came back with the subscription, and the resumed one is served as before.
    assert_eq!(
        b.svc.watchers_of(&aor(ALICE))[0].route.as_deref(),
        Some("route-of-dialog-1")
    );
    b.svc.unsubscribe(&dialog(1)).await.unwrap();
    assert_eq!(store.map.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn expired_subscriptions_are_not_restored_and_leave_the_store() {
    let store = Arc::new(MapStore::default());
    let a = harness(&store);
    a.svc
        .subscribe(&subscribe(1, BOB, ALICE), false)
        .await
        .unwrap();
    let b = harness(&store);
    b.advance(601);
    let stored = store.load().await.unwrap();
    assert_eq!(b.svc.restore_subscriptions(stored).await.unwrap(), 0);
    assert!(store.map.lock().unwrap().is_empty());
    assert!(b.svc.watchers_of(&aor(ALICE)).is_empty());
}

#[tokio::test]
async fn a_subscription_that_cannot_be_stored_is_refused_with_503() {
    let store = Arc::new(MapStore::default());
    let mut a = harness(&store);
    *store.fail.lock().unwrap() = true;
    let err = a
        .svc
        .subscribe(&subscribe(1, BOB, ALICE), false)
        .await
        .unwrap_err();
    assert_eq!(err.sip_status(), 503);
    assert!(
        a.svc.watchers_of(&aor(ALICE)).is_empty(),
        "not kept in memory either"
    );
    assert!(
        a.take_notifies().is_empty(),
        "no NOTIFY for a refused subscription"
    );
}

/// What users set — decisions (and a watcher still waiting for one), buddy lists, a buddy list
/// subscription — is in the store before the call returns, and a new service on the same store has all of
/// it: the same decisions, the same lists in the same order, the list subscription served again with a
/// full-state NOTIFY.
#[tokio::test]
async fn decisions_buddy_lists_and_list_subscriptions_outlive_the_service() {
    let carol = "sip:carol@example.com";
    let store = Arc::new(MapStore::default());
    let mut a = harness(&store);
    a.svc
        .add_buddy(
            &aor(ALICE),
            Buddy::new(aor(BOB)).named("Bob").in_group("Team"),
        )
        .await
        .unwrap();
    a.svc
        .add_buddy(&aor(ALICE), Buddy::new(aor(carol)))
        .await
        .unwrap();
    a.svc
        .authorize_watcher(&aor(BOB), &aor(ALICE), WatcherDecision::PoliteBlock)
        .await
        .unwrap();
    a.svc
        .authorize_watcher(&aor(carol), &aor(ALICE), WatcherDecision::Confirm)
        .await
        .unwrap();
    a.svc
        .publish(&publish(carol, "t", "open", "carol here"))
        .await
        .unwrap();
    let list = a.svc.buddy_list_uri(&aor(ALICE)).unwrap();
    let req = SubscribeRequest::new(dialog(7), aor(ALICE), list).expires(600);
    a.svc.subscribe(&req, true).await.unwrap();
    a.take_notifies();
    assert_eq!(
        store.lists.lock().unwrap().len(),
        1,
        "the list subscription is stored"
    );

    let mut b = harness(&store);
    let stored = store.load().await.unwrap();
    assert_eq!(b.svc.restore_subscriptions(stored).await.unwrap(), 1);
    let buddies = b.svc.buddies(&aor(ALICE));
    assert_eq!(
        buddies
            .iter()
            .map(|x| x.uri.to_string())
            .collect::<Vec<_>>(),
        [BOB, carol],
        "the same list, in the order added"
    );
    assert_eq!(buddies[0].group.as_deref(), Some("Team"));
    assert_eq!(
        b.svc.watcher_decision(&aor(BOB), &aor(ALICE)),
        WatcherDecision::PoliteBlock
    );
    assert_eq!(
        b.svc.watcher_decision(&aor(carol), &aor(ALICE)),
        WatcherDecision::Confirm
    );
    let seen = b.svc.buddy_presence(&aor(ALICE)).await.unwrap();
    assert!(matches!(seen[0].1, BuddyPresence::Closed));
    assert!(matches!(seen[1].1, BuddyPresence::Pending));
    let resumed = b.take_notifies();
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].dialog, dialog(7));
    assert!(
        resumed[0]
            .body
            .as_ref()
            .unwrap()
            .contains("fullState=\"true\"")
    );
    // Removing a buddy is stored too.
    b.svc.remove_buddy(&aor(ALICE), &aor(carol)).await.unwrap();
    assert_eq!(store.buddies.lock().unwrap()[&aor(ALICE)].len(), 1);
}

/// A change that cannot be stored is not made: the list and the decision stay as they were.
#[tokio::test]
async fn a_buddy_or_decision_that_cannot_be_stored_is_refused() {
    let store = Arc::new(MapStore::default());
    let a = harness(&store);
    *store.fail.lock().unwrap() = true;
    assert!(
        a.svc
            .add_buddy(&aor(ALICE), Buddy::new(aor(BOB)))
            .await
            .is_err()
    );
    assert!(a.svc.buddies(&aor(ALICE)).is_empty());
    assert!(
        a.svc
            .authorize_watcher(&aor(BOB), &aor(ALICE), WatcherDecision::Block)
            .await
            .is_err()
    );
    assert_ne!(
        a.svc.watcher_decision(&aor(BOB), &aor(ALICE)),
        WatcherDecision::Block
    );
}

/// Two services on one store, as two nodes: what one stored, the other applies when told (the shared
/// mode's change notices call these).
#[tokio::test]
async fn a_node_applies_the_decisions_and_lists_another_node_stored() {
    let store = Arc::new(MapStore::default());
    let a = harness(&store);
    let mut b = harness(&store);
    // Bob wants to confirm his watchers (decided through A) ...
    a.svc
        .authorize_watcher(&aor(BOB), &aor(ALICE), WatcherDecision::Confirm)
        .await
        .unwrap();
    b.svc.decisions_changed_elsewhere(&aor(BOB)).await.unwrap();
    // ... so a watcher subscribed through B waits for a decision ...
    b.svc
        .subscribe(&subscribe(1, ALICE, BOB), false)
        .await
        .unwrap();
    b.take_notifies();
    assert_eq!(b.svc.watchers_of(&aor(BOB))[0].state, SubState::Pending);
    // ... which is made through A: B activates the subscription when told.
    a.svc
        .authorize_watcher(&aor(BOB), &aor(ALICE), WatcherDecision::Allow)
        .await
        .unwrap();
    b.svc.decisions_changed_elsewhere(&aor(BOB)).await.unwrap();
    assert_eq!(b.svc.watchers_of(&aor(BOB))[0].state, SubState::Active);
    assert!(!b.take_notifies().is_empty(), "the watcher was told");
    a.svc
        .add_buddy(&aor(ALICE), Buddy::new(aor(BOB)))
        .await
        .unwrap();
    b.svc.buddies_changed_elsewhere(&aor(ALICE)).await.unwrap();
    assert_eq!(b.svc.buddies(&aor(ALICE)).len(), 1);
    a.svc.remove_buddy(&aor(ALICE), &aor(BOB)).await.unwrap();
    b.svc.settings_changed_elsewhere().await.unwrap();
    assert!(b.svc.buddies(&aor(ALICE)).is_empty());
}
