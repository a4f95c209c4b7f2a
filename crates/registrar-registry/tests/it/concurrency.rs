//! Many tasks at once: no lost update, no torn multi-contact commit.

use std::sync::Arc;

use registrar_registry::{Error, MemoryLocationStore, RegistrarPolicy, Registry};

use crate::support::*;

fn shared(max_contacts: usize) -> Arc<Registry<MemoryLocationStore>> {
    let mut p = RegistrarPolicy::default();
    p.max_contacts = max_contacts;
    Arc::new(Registry::new(MemoryLocationStore::new(), p).unwrap())
}

/// 16 tasks each add 50 contacts to one AoR: every one of the 800 is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_lost_update_on_one_aor() {
    let reg = shared(10_000);
    let mut tasks = Vec::new();
    for t in 0..16 {
        let reg = Arc::clone(&reg);
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let r = req(ALICE, &format!("t{t}-{i}"), 1)
                    .contact(contact(&format!("sip:alice@192.0.2.{t}:{}", 5000 + i)));
                reg.register(START, &r).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(reg.lookup(&aor(ALICE), START).await.unwrap().len(), 800);
}

/// Different AoRs in parallel all land.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_aors_all_land() {
    let reg = shared(10);
    let mut tasks = Vec::new();
    for t in 0..8 {
        let reg = Arc::clone(&reg);
        tasks.push(tokio::spawn(async move {
            for i in 0..250 {
                let a = format!("sip:user{t}x{i}@example.com");
                let r =
                    req(&a, "c", 1).contact(contact(&format!("sip:u@192.0.2.{t}:{}", 1000 + i)));
                reg.register(START, &r).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(reg.store().len(), 2000);
}

/// Readers see a three-contact REGISTER all or nothing, never part of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_never_see_a_torn_commit() {
    let reg = shared(10);
    let writer = {
        let reg = Arc::clone(&reg);
        tokio::spawn(async move {
            for round in 1..=300u32 {
                let add = req(ALICE, "w", round * 2 - 1)
                    .contact(contact("sip:alice@192.0.2.1"))
                    .contact(contact("sip:alice@192.0.2.2"))
                    .contact(contact("sip:alice@192.0.2.3"));
                reg.register(START, &add).await.unwrap();
                let clear = req(ALICE, "w", round * 2).wildcard().expires(0);
                reg.register(START, &clear).await.unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    let mut readers = Vec::new();
    for _ in 0..3 {
        let reg = Arc::clone(&reg);
        readers.push(tokio::spawn(async move {
            let mut seen_full = 0;
            for _ in 0..3000 {
                let n = reg.lookup(&aor(ALICE), START).await.unwrap().len();
                assert!(n == 0 || n == 3, "saw {n} bindings");
                seen_full += usize::from(n == 3);
                tokio::task::yield_now().await;
            }
            seen_full
        }));
    }
    writer.await.unwrap();
    for r in readers {
        r.await.unwrap();
    }
}

/// Concurrent REGISTERs with one Call-ID and different CSeqs: each either applies or fails as stale, and the
/// stored CSeq ends at the highest.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cseqs_keep_the_highest() {
    let reg = shared(10);
    let mut tasks = Vec::new();
    for cseq in 1..=200u32 {
        let reg = Arc::clone(&reg);
        tasks.push(tokio::spawn(async move {
            let r = req(ALICE, "one-call", cseq).contact(contact("sip:alice@192.0.2.1"));
            match reg.register(START, &r).await {
                Ok(_) => true,
                Err(Error::StaleCSeq { got, .. }) => {
                    assert_eq!(got.value(), cseq);
                    false
                }
                Err(e) => panic!("{e}"),
            }
        }));
    }
    let mut applied = 0;
    for t in tasks {
        applied += usize::from(t.await.unwrap());
    }
    assert!(applied >= 1);
    let b = reg.lookup(&aor(ALICE), START).await.unwrap().to_vec();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].cseq.value(), 200);
}
