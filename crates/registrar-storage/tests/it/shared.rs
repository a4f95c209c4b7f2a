//! The shared engines against the real Redis of `REDIS_URL` (skipped, saying so, when it is unset): updates
//! from two nodes to one AoR are atomic, change notices reach the other node, any node sweeps.

use std::sync::Arc;
use std::time::Duration;

use registrar_presence::{
    Buddy, DialogId, EventPackage, PresenceStore, Subscription, SubscriptionChange,
    SubscriptionStore, WatcherDecision,
};
use registrar_registry::{ContactSpec, LocationStore, RegisterRequest, RegistrarPolicy, Registry};
use registrar_storage::{
    Change, Redis, SharedLocationStore, SharedPresenceStore, SharedSubscriptionStore,
};
use registrar_types::{Aor, CSeq, Clock, SystemClock};
use tokio::sync::mpsc;

fn url(test: &str) -> Option<String> {
    let u = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty());
    if u.is_none() {
        super::skipped(test, "REDIS_URL is not set (.ci/run sets it)");
    }
    u
}

fn prefix(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("it-{tag}-{}-{nanos}", std::process::id())
}

async fn node(url: &str, prefix: &str, name: &str) -> Registry<SharedLocationStore> {
    let redis = Redis::connect(url, prefix, name).await.unwrap();
    let mut policy = RegistrarPolicy::default();
    policy.max_contacts = 1000;
    policy.min_expires = 1;
    Registry::new(SharedLocationStore::new(redis), policy).unwrap()
}

fn alice() -> Aor {
    "sip:alice@example.com".parse().unwrap()
}

fn device(i: usize, expires: u32) -> RegisterRequest {
    RegisterRequest::new(
        alice(),
        format!("dev-{i}@h").parse().unwrap(),
        CSeq::new(1).unwrap(),
    )
    .contact(
        ContactSpec::new(format!("sip:alice@192.0.2.{i}:5060").parse().unwrap()).expires(expires),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registers_on_four_nodes_lose_no_binding() {
    const DEVICES: usize = 200;
    let Some(url) = url("concurrent_registers_on_four_nodes_lose_no_binding") else {
        return;
    };
    let p = prefix("cas");
    // Four nodes, 50 devices each, all at once: a node's own updates to the AoR take turns, the nodes'
    // race in Redis and are retried.
    let mut nodes = Vec::new();
    for name in ["a", "b", "c", "d"] {
        nodes.push(Arc::new(node(&url, &p, name).await));
    }
    let mut tasks = Vec::new();
    for i in 0..DEVICES {
        let reg = Arc::clone(&nodes[i % nodes.len()]);
        tasks.push(tokio::spawn(async move {
            reg.register(SystemClock.now(), &device(i, 600))
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for reg in &nodes {
        let found = reg.lookup(&alice(), SystemClock.now()).await.unwrap();
        assert_eq!(
            found.len(),
            DEVICES,
            "every concurrent REGISTER kept its binding"
        );
        assert_eq!(reg.registered_count().await.unwrap(), 1);
    }
    // Unregister everything from one node: the AoR is gone for both, and from the user list.
    let all = RegisterRequest::new(alice(), "dev-x@h".parse().unwrap(), CSeq::new(1).unwrap())
        .wildcard()
        .expires(0);
    nodes[0].register(SystemClock.now(), &all).await.unwrap();
    assert!(
        nodes[1]
            .lookup(&alice(), SystemClock.now())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(nodes[1].registered_count().await.unwrap(), 0);
}

#[tokio::test]
async fn the_other_node_hears_of_changes_and_any_node_sweeps() {
    let Some(url) = url("the_other_node_hears_of_changes_and_any_node_sweeps") else {
        return;
    };
    let p = prefix("notice");
    let a = Redis::connect(&url, &p, "a").await.unwrap();
    let b = Redis::connect(&url, &p, "b").await.unwrap();
    let (tx_a, mut heard_by_a) = mpsc::channel(16);
    let (tx_b, mut heard_by_b) = mpsc::channel(16);
    a.listen(tx_a);
    b.listen(tx_b);
    for rx in [&mut heard_by_a, &mut heard_by_b] {
        let first = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert_eq!(first.unwrap(), Some(Change::Resync));
    }
    let loc_a = Registry::new(SharedLocationStore::new(Arc::clone(&a)), {
        let mut p = RegistrarPolicy::default();
        p.min_expires = 1;
        p
    })
    .unwrap();
    loc_a
        .register(SystemClock.now(), &device(1, 1))
        .await
        .unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(5), heard_by_b.recv()).await;
    assert_eq!(heard.unwrap(), Some(Change::Location(alice())));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), heard_by_a.recv())
            .await
            .is_err(),
        "a node does not hear its own notices"
    );

    // Two seconds on, the one-second binding has expired; node B's sweep removes it (once: node A then finds
    // nothing due). The sweeps are told the time, so nothing waits for it to pass.
    let later = SystemClock.now().plus_secs(2);
    let loc_b = SharedLocationStore::new(Arc::clone(&b));
    let swept = loc_b.remove_expired(later).await.unwrap();
    assert_eq!(swept.len(), 1);
    assert_eq!(swept[0].0, alice());
    assert!(loc_a.expire(later).await.unwrap().is_empty());
    assert_eq!(loc_b.next_expiry().await.unwrap(), None);

    // Publications: the same store shape, the notice says `Presence`.
    let pres_b = SharedPresenceStore::new(Arc::clone(&b));
    let pres_a = SharedPresenceStore::new(Arc::clone(&a));
    let pubn = crate::publication("e1", SystemClock.now().plus_secs(60));
    pres_b
        .update(&alice(), &mut |_| Ok(Some(Arc::from(vec![pubn.clone()]))))
        .await
        .unwrap();
    // Node A first hears of node B's sweep, then of the publication.
    let heard = tokio::time::timeout(Duration::from_secs(5), heard_by_a.recv()).await;
    assert_eq!(heard.unwrap(), Some(Change::Location(alice())));
    let heard = tokio::time::timeout(Duration::from_secs(5), heard_by_a.recv()).await;
    assert_eq!(heard.unwrap(), Some(Change::Presence(alice())));
    assert_eq!(pres_a.publications(&alice()).await.unwrap().len(), 1);
    pres_a
        .update(&alice(), &mut |_| Ok(Some(Arc::from(Vec::new()))))
        .await
        .unwrap();
    assert!(pres_b.publications(&alice()).await.unwrap().is_empty());
}

/// A three-master Redis Cluster on free loopback ports, in its own directory; stopped when dropped.
struct Cluster {
    servers: Vec<std::process::Child>,
    seeds: Vec<String>,
    dir: std::path::PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for s in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn have(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    // A cluster node also listens on port + 10000 (its bus): keep both below 65536.
    loop {
        let p = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if p < 55_000 && std::net::TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok() {
            return p;
        }
    }
}

fn start_cluster() -> Option<Cluster> {
    if !have("redis-server") || !have("redis-cli") {
        super::skipped(
            "the Redis Cluster test",
            "redis-server and redis-cli are not installed",
        );
        return None;
    }
    let dir = std::env::temp_dir().join(prefix("cluster"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = Cluster {
        servers: Vec::new(),
        seeds: Vec::new(),
        dir: dir.clone(),
    };
    let mut addrs = Vec::new();
    for i in 0..3 {
        let port = free_port();
        let conf = dir.join(format!("nodes-{i}.conf"));
        c.servers.push(
            std::process::Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes", "--cluster-config-file"])
                .arg(&conf)
                .args(["--save", "", "--appendonly", "no", "--dir"])
                .arg(&dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        addrs.push(format!("127.0.0.1:{port}"));
        c.seeds.push(format!("redis://127.0.0.1:{port}"));
    }
    for a in &addrs {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(a).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server {a} did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let created = std::process::Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(created.success(), "redis-cli --cluster create failed");
    let port = addrs[0].rsplit(':').next().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let info = std::process::Command::new("redis-cli")
            .args(["-p", &port, "cluster", "info"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the cluster did not become ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_keeps_updates_atomic_sweeps_and_carries_notices() {
    let Some(cluster) = start_cluster() else {
        return;
    };
    let p = prefix("cl");
    let a = Redis::connect_cluster(&cluster.seeds, &p, "a")
        .await
        .unwrap();
    let b = Redis::connect_cluster(&cluster.seeds, &p, "b")
        .await
        .unwrap();
    let (tx_b, mut heard_by_b) = mpsc::channel(64);
    b.listen(tx_b);
    let first = tokio::time::timeout(Duration::from_secs(5), heard_by_b.recv()).await;
    assert_eq!(first.unwrap(), Some(Change::Resync));
    let policy = || {
        let mut p = RegistrarPolicy::default();
        p.max_contacts = 1000;
        p.min_expires = 1;
        p
    };
    let nodes = [
        Arc::new(Registry::new(SharedLocationStore::new(Arc::clone(&a)), policy()).unwrap()),
        Arc::new(Registry::new(SharedLocationStore::new(Arc::clone(&b)), policy()).unwrap()),
    ];
    // Users spread over the cluster's slots, one AoR written concurrently from both nodes.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let reg = Arc::clone(&nodes[i % 2]);
        tasks.push(tokio::spawn(async move {
            reg.register(SystemClock.now(), &device(i, 600))
                .await
                .unwrap();
            let other = RegisterRequest::new(
                format!("sip:user{i}@example.com").parse().unwrap(),
                format!("u-{i}@h").parse().unwrap(),
                CSeq::new(1).unwrap(),
            )
            .contact(
                ContactSpec::new(format!("sip:user{i}@192.0.2.9").parse().unwrap()).expires(1),
            );
            reg.register(SystemClock.now(), &other).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        nodes[1]
            .lookup(&alice(), SystemClock.now())
            .await
            .unwrap()
            .len(),
        40
    );
    assert_eq!(nodes[0].registered_count().await.unwrap(), 41);
    let page = nodes[0].registered_users(None, 100).await.unwrap();
    assert_eq!(page.len(), 41);
    // Node A's writes are heard by node B, whichever cluster node it follows.
    let heard = tokio::time::timeout(Duration::from_secs(5), heard_by_b.recv()).await;
    assert!(matches!(heard.unwrap(), Some(Change::Location(_))));
    // Two seconds on, the 40 one-second registrations have expired; one sweep (any node) removes them all.
    let swept = nodes[1]
        .expire(SystemClock.now().plus_secs(2))
        .await
        .unwrap();
    assert_eq!(swept.len(), 40);
    assert_eq!(nodes[0].registered_count().await.unwrap(), 1);

    // A node's subscriptions: written in one transaction on their own slot, read back.
    let subs = SharedSubscriptionStore::new(Arc::clone(&a));
    let dialog = DialogId::new("s1@h".parse().unwrap(), "from", "to");
    let sub = Subscription::new(
        dialog.clone(),
        alice(),
        "sip:bob@example.com".parse().unwrap(),
        EventPackage::Presence,
        SystemClock.now().plus_secs(600),
        SystemClock.now(),
    );
    subs.save(&[SubscriptionChange::Put(sub.clone())])
        .await
        .unwrap();
    assert_eq!(subs.load().await.unwrap().subscriptions, vec![sub]);
    subs.save(&[SubscriptionChange::Remove(dialog)])
        .await
        .unwrap();
    assert!(subs.load().await.unwrap().subscriptions.is_empty());
    // The users' settings live in many slots: written and read back through the cluster.
    let bob: Aor = "sip:bob@example.com".parse().unwrap();
    subs.save(&[
        SubscriptionChange::Rule {
            presentity: bob.clone(),
            watcher: alice(),
            decision: WatcherDecision::PoliteBlock,
        },
        SubscriptionChange::Buddies {
            owner: alice(),
            list: vec![Buddy::new(bob.clone()).named("Bob")],
        },
        SubscriptionChange::Joined(alice()),
    ])
    .await
    .unwrap();
    let b = SharedSubscriptionStore::new(Arc::clone(&b));
    assert_eq!(
        b.rules_of(&bob).await.unwrap(),
        vec![(alice(), WatcherDecision::PoliteBlock)]
    );
    assert_eq!(
        b.buddies_of(&alice()).await.unwrap()[0]
            .display_name
            .as_deref(),
        Some("Bob")
    );
    assert_eq!(b.load().await.unwrap().joined, vec![alice()]);
    drop(cluster);
}
