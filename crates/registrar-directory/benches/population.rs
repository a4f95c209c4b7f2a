//! The synthetic population and the measurements of the directory bench, shared by the benches of
//! registrar-directory (memory index) and registrar-storage (tantivy index) through `#[path]`.
#![allow(clippy::unwrap_used, dead_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use registrar_directory::model::{
    EntityType, Expertise, Relationship, RelationshipKind, TopicRole, TopicSubscription,
};
use registrar_directory::search::SearchIndex;
use registrar_directory::{
    Availability, Directory, ExpertQuery, Hints, Participant, ParticipantId, Query,
};

const SYL: [&str; 50] = [
    "ka", "lo", "mi", "ra", "te", "su", "no", "vi", "da", "ge", "ha", "jo", "ku", "le", "ma", "ne",
    "po", "ri", "sa", "to", "ul", "va", "we", "xi", "yo", "za", "be", "ci", "du", "fa", "gi", "hu",
    "ja", "ki", "lu", "mo", "nu", "pa", "ro", "si", "tu", "ve", "wa", "ye", "zo", "an", "el", "ir",
    "os", "ur",
];
const ROLES: [&str; 8] = [
    "engineer",
    "research scientist",
    "manager",
    "designer",
    "analyst",
    "support agent",
    "sales lead",
    "operator",
];

pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

pub(crate) fn first(i: usize) -> String {
    let k = i % 400;
    format!("{}{}", SYL[k / 20 + 5], SYL[k % 20 + 20])
}

pub(crate) fn last(i: usize) -> String {
    let k = (i / 400) % 2500;
    format!("{}{}{}", SYL[k / 50], SYL[k % 50], SYL[(k * 7) % 50])
}

pub(crate) fn org(i: usize) -> usize {
    // Scatter so an organization's members do not share name patterns.
    (i.wrapping_mul(7919)) % 1000
}

pub(crate) fn pid(i: usize) -> ParticipantId {
    ParticipantId::parse(&format!(
        "{}.{}{i}@org{}.example.com",
        first(i),
        last(i),
        org(i)
    ))
    .unwrap()
}

pub(crate) fn person(i: usize) -> Participant {
    let mut p = Participant::new(
        pid(i),
        EntityType::Human,
        format!("{} {}", first(i), last(i)),
    );
    let id = &mut p.identities[0];
    id.organization = Some(format!("Org{}", org(i)));
    id.role = Some(ROLES[i % ROLES.len()].to_owned());
    id.email = Some(p.id.as_str().to_owned());
    id.sip_aor = Some(format!("sip:{}", p.id.as_str()));
    id.languages = vec!["en".into()];
    p.region = Some(["eu", "us", "apac"][i % 3].to_owned());
    p
}

pub(crate) fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

pub(crate) fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort_unstable();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i].as_secs_f64() * 1e3
}

fn typo(s: &str, r: &mut Rng) -> String {
    let mut b: Vec<char> = s.chars().collect();
    let i = 1 + r.below(b.len() - 2);
    b.swap(i, i + 1);
    b.into_iter().collect()
}

fn availability(p: &Participant) -> Availability {
    // Stable per participant: about 60 % available.
    let h =
        p.id.as_str()
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    match h % 10 {
        0..=5 => Availability::Available,
        6 => Availability::Busy,
        7 => Availability::Away,
        8 => Availability::DoNotDisturb,
        _ => Availability::Offline,
    }
}

/// A relationship or topic subscription of the synthetic population.
pub(crate) enum Link {
    /// A relationship.
    Relationship(Relationship),
    /// A topic subscription.
    Topic(TopicSubscription),
}

/// The relationships (about five per participant: three colleagues, two acquaintances) and topic
/// subscriptions (two per participant, one in five as an expert) of `n` participants, handed to `f`; the
/// number of relationships.
pub(crate) fn links(n: usize, r: &mut Rng, mut f: impl FnMut(Link)) -> usize {
    // Members of each organization, for colleagues.
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); 1000];
    for i in 0..n {
        members[org(i)].push(i);
    }
    let mut links = 0usize;
    for i in 0..n {
        let m = &members[org(i)];
        for k in 0..5 {
            let j = if k < 3 {
                m[r.below(m.len())]
            } else {
                r.below(n)
            };
            if j == i {
                continue;
            }
            let kind = if k < 3 {
                RelationshipKind::Colleague
            } else {
                RelationshipKind::Acquaintance
            };
            f(Link::Relationship(Relationship {
                from: pid(i),
                to: pid(j),
                kind,
                mutual: r.below(2) == 0,
            }));
            links += 1;
        }
        for k in 0..2 {
            let expert = r.below(5) == 0;
            f(Link::Topic(TopicSubscription {
                participant: pid(i),
                topic: format!("topic-{}", (i * 31 + k * 17 + r.below(3)) % 1000),
                role: if expert {
                    TopicRole::Expert
                } else {
                    TopicRole::Interested
                },
                expertise: [
                    Expertise::Intermediate,
                    Expertise::Advanced,
                    Expertise::Expert,
                    Expertise::Authority,
                ][r.below(4)],
                when_busy: r.below(4) == 0,
            }));
        }
    }
    links
}

/// Build the population over `index` and print the figures, each name starting with `prefix`.
pub(crate) fn run<I: SearchIndex>(prefix: &str, index: I) {
    let n: usize = std::env::var("DIRECTORY_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut r = Rng(42);
    let rss0 = rss_bytes();
    let t = Instant::now();
    let mut d = Directory::new(index);
    for i in 0..n {
        d.put_participant(person(i)).expect("within the limits");
    }
    // One search commits what an index buffers (tantivy), so the build time includes it.
    black_box(d.resolve(
        &d.requester(None),
        &Query {
            text: "warm up".into(),
            ..Query::default()
        },
        &availability,
        0,
    ));
    let build = t.elapsed();
    println!("{prefix}_participants {n} participants");
    println!(
        "{prefix}_index_build {:.1} s (participants and search index)",
        build.as_secs_f64()
    );
    let t = Instant::now();
    let links = links(n, &mut r, |e| match e {
        Link::Relationship(rel) => {
            d.put_relationship(rel).unwrap();
        }
        Link::Topic(t) => {
            d.put_topic(t).unwrap();
        }
    });
    println!(
        "{prefix}_graph_build {:.1} s ({links} relationships, {} topic subscriptions)",
        t.elapsed().as_secs_f64(),
        2 * n
    );
    let rss = rss_bytes().saturating_sub(rss0);
    println!("{prefix}_memory {:.0} MiB", rss as f64 / (1 << 20) as f64);
    println!(
        "{prefix}_memory_per_participant {:.0} bytes",
        rss as f64 / n as f64
    );

    // Contact resolution.
    let queries = 2000;
    let mut lat = Vec::with_capacity(queries);
    // Top-3 hits for queries spelled right and with a typo (a typo often spells another real name in this
    // population, and the exact match then rightly comes first).
    let (mut top3, mut typo_top3, mut typos) = (0, 0, 0);
    for q in 0..queries {
        let target = r.below(n);
        let asker = d.requester(Some(&pid(r.below(n))));
        let l = last(target);
        let text = format!(
            "{} {}",
            first(target),
            if q % 3 == 0 { typo(&l, &mut r) } else { l }
        );
        let query = Query {
            text,
            hints: Hints {
                organization: (q % 2 == 0).then(|| format!("Org{}", org(target))),
                ..Hints::default()
            },
            ..Query::default()
        };
        let t = Instant::now();
        let (res, audit) = d.resolve(&asker, &query, &availability, 0);
        lat.push(t.elapsed());
        black_box(audit);
        let want = pid(target);
        let hit = res
            .candidates()
            .iter()
            .take(3)
            .any(|c| c.participant.id == want.as_str());
        if q % 3 == 0 {
            typos += 1;
            typo_top3 += usize::from(hit);
        } else {
            top3 += usize::from(hit);
        }
    }
    println!("{prefix}_resolve_p50 {:.3} ms", pct(&mut lat, 0.50));
    println!("{prefix}_resolve_p95 {:.3} ms", pct(&mut lat, 0.95));
    println!("{prefix}_resolve_p99 {:.3} ms", pct(&mut lat, 0.99));
    println!(
        "{prefix}_resolve_top3 {:.1} % (full names spelled right: the intended participant in the top 3)",
        100.0 * top3 as f64 / (queries - typos) as f64
    );
    println!(
        "{prefix}_resolve_top3_typo {:.1} % (one swapped pair of letters in the last name)",
        100.0 * typo_top3 as f64 / typos as f64
    );

    // Expert discovery.
    let mut lat = Vec::with_capacity(queries);
    let mut found = 0usize;
    for q in 0..queries {
        let asker = d.requester(Some(&pid(r.below(n))));
        let query = ExpertQuery {
            topic: format!("topic-{}", r.below(1000)),
            min: Expertise::Advanced,
            region: (q % 4 == 0).then(|| "eu".to_owned()),
            limit: 10,
            ..ExpertQuery::default()
        };
        let t = Instant::now();
        let (list, audit) = d.find_experts(&asker, &query, &availability, 0);
        lat.push(t.elapsed());
        found += list.len();
        black_box(audit);
    }
    println!("{prefix}_experts_p50 {:.3} ms", pct(&mut lat, 0.50));
    println!("{prefix}_experts_p95 {:.3} ms", pct(&mut lat, 0.95));
    println!(
        "{prefix}_experts_found {:.1} per query",
        found as f64 / queries as f64
    );

    // Proximity within 3 hops.
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); 1000];
    for i in 0..n {
        members[org(i)].push(i);
    }
    let mut lat = Vec::with_capacity(queries);
    let mut within = 0;
    for q in 0..queries {
        let a = r.below(n);
        // Half within the organization (likely 2–3 hops), half anywhere (mostly beyond 3: the worst case).
        let b = if q % 2 == 0 {
            let m = &members[org(a)];
            m[r.below(m.len())]
        } else {
            r.below(n)
        };
        let (a, b) = (pid(a), pid(b));
        let t = Instant::now();
        let hops = d.proximity(&a, &b, 3);
        lat.push(t.elapsed());
        within += usize::from(hops.is_some());
    }
    // Tearing down a million participants takes seconds and measures nothing.
    std::mem::forget(d);
    println!("{prefix}_proximity3_p50 {:.3} ms", pct(&mut lat, 0.50));
    println!("{prefix}_proximity3_p95 {:.3} ms", pct(&mut lat, 0.95));
    println!(
        "{prefix}_proximity3_within {:.0} % of pairs",
        100.0 * within as f64 / queries as f64
    );
}
