//! Subscriptions kept in a `SubscriptionStore` outlive the service: a new service restores them and tells
//! each watcher the current state.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use registrar_presence::{
    DialogId, Error as PresenceError, EventPackage, RESUME_GAP, SubState, SubscribeRequest,
    Subscription, SubscriptionChange, SubscriptionStore,
};
use registrar_service::RegistrarService;

use crate::support::{ALICE, BOB, Harness, aor, dialog, publish, subscribe};

/// Records changes in a map, and can be told to fail.
#[derive(Default)]
struct MapStore {
    map: Mutex<BTreeMap<DialogId, Subscription>>,
    fail: Mutex<bool>,
}

#[async_trait]
impl SubscriptionStore for MapStore {
    async fn save(&self, changes: &[SubscriptionChange]) -> Result<(), PresenceError> {
        if *self.fail.lock().unwrap() {
            return Err(PresenceError::Storage("disk full".into()));
        }
        let mut map = self.map.lock().unwrap();
        for c in changes {
            match c {
                SubscriptionChange::Put(s) => {
                    map.insert(s.dialog.clone(), s.clone());
                }
                SubscriptionChange::Remove(d) => {
                    map.remove(d);
                }
                other => panic!("unknown change {other:?}"),
            }
        }
        Ok(())
    }
    async fn load(&self) -> Result<Vec<Subscription>, PresenceError> {
        Ok(self.map.lock().unwrap().values().cloned().collect())
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
