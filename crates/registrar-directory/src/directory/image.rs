//! A directory image: what a [`Directory`] holds in memory (participants, relationships, topics, ratings,
//! priorities, contact requests and, for an index that supports it, the search index's terms), written
//! to a file so that a node starts from it instead of rebuilding everything from its store.
//!
//! An image is a cache, never the truth: its header names the store it was taken from (`origin`) and the
//! state it reflects (`position`: a shared store's feed position, or an embedded store's stamp folded into
//! the origin), and the service uses it only when the store confirms both (see
//! [`crate::DirectoryService::open_with_image`]). A file that is damaged (its CRC-32 does not match),
//! truncated, or from another version is refused with an error, and the caller loads from the store.
//!
//! Layout, integers little-endian: the magic `REGDIMG` and a version byte; the origin (u32 length + UTF-8);
//! the position (u64); participants (u64 count, each the u32 number of its discovery permissions and a u32
//! length + JSON of the rest), then the distinct discovery permissions (u64 count, JSON each); relationships (u64 count, each
//! u32 from, u32 to — positions in the participant list — and a u8 kind); topics (u64 count, each u32
//! participant, the topic, u8 role, u8 expertise, u8 when-busy); ratings, priorities (u64 count, JSON
//! each); the next contact number (u64) and contact requests (u64 count, JSON each); a u8 saying whether
//! index parts follow, then the terms (u64 count, each a string) and the documents (u64 count, each u32
//! participant, u32 pair count, pairs of u32 term and u8 field); the CRC-32 of everything before it.

use std::io::{self, Write};

use super::*;
use crate::model::{Expertise, RelationshipKind, TopicRole};
use crate::search::OwnedIndexParts;

const MAGIC: &[u8; 8] = b"REGDIMG\x01";

/// What an image says about where it comes from.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct ImageHeader {
    /// The store it was taken from (and, for a store without a feed, that store's state).
    pub origin: String,
    /// The feed position it reflects (0 for a store without a feed).
    pub position: u64,
}

const KINDS: [RelationshipKind; 14] = [
    RelationshipKind::Boss,
    RelationshipKind::DirectReport,
    RelationshipKind::Colleague,
    RelationshipKind::Collaborator,
    RelationshipKind::TeamMember,
    RelationshipKind::Family,
    RelationshipKind::Friend,
    RelationshipKind::Acquaintance,
    RelationshipKind::ServiceProvider,
    RelationshipKind::Customer,
    RelationshipKind::Support,
    RelationshipKind::Bot,
    RelationshipKind::Service,
    RelationshipKind::Monitor,
];
const ROLES: [TopicRole; 4] = [
    TopicRole::Expert,
    TopicRole::Interested,
    TopicRole::Monitoring,
    TopicRole::Learning,
];
const LEVELS: [Expertise; 5] = [
    Expertise::Beginner,
    Expertise::Intermediate,
    Expertise::Advanced,
    Expertise::Expert,
    Expertise::Authority,
];

fn code<T: PartialEq + std::fmt::Debug>(all: &[T], v: &T) -> io::Result<u8> {
    all.iter()
        .position(|x| x == v)
        .and_then(|i| u8::try_from(i).ok())
        .ok_or_else(|| io::Error::other(format!("directory image: no code for {v:?}")))
}

fn decode<T: Copy>(all: &[T], c: u8, what: &str) -> Result<T, Error> {
    all.get(usize::from(c))
        .copied()
        .ok_or_else(|| corrupt(format!("unknown {what} code {c}")))
}

fn corrupt(msg: impl std::fmt::Display) -> Error {
    Error::Storage(format!("directory image: {msg}").into())
}

/// A participant as the image holds it: everything but the discovery permissions, which most participants
/// share (the defaults, or an organization's settings) and which the image keeps once per distinct value.
#[derive(Serialize)]
struct ImageParticipant<'a> {
    id: &'a ParticipantId,
    entity: &'a crate::model::EntityType,
    identities: &'a [crate::model::IdentityContext],
    org: &'a Option<crate::model::OrgContext>,
    verification: &'a crate::model::VerificationLevel,
    utc_offset_minutes: i16,
    region: &'a Option<String>,
    created_ms: u64,
    updated_ms: u64,
}

/// [`ImageParticipant`] read back.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageParticipantOwned {
    id: ParticipantId,
    entity: crate::model::EntityType,
    identities: Vec<crate::model::IdentityContext>,
    org: Option<crate::model::OrgContext>,
    verification: crate::model::VerificationLevel,
    utc_offset_minutes: i16,
    region: Option<String>,
    created_ms: u64,
    updated_ms: u64,
}

impl ImageParticipantOwned {
    fn with(self, permissions: crate::model::DiscoveryPermissions) -> Participant {
        // A struct literal: a field added to Participant fails to compile here until the image carries it.
        Participant {
            id: self.id,
            entity: self.entity,
            identities: self.identities,
            permissions,
            org: self.org,
            verification: self.verification,
            utc_offset_minutes: self.utc_offset_minutes,
            region: self.region,
            created_ms: self.created_ms,
            updated_ms: self.updated_ms,
        }
    }
}

/// A writer that keeps the CRC-32 of what went through it.
struct Out<W: Write> {
    w: W,
    crc: crc32fast::Hasher,
    /// Reused for each JSON value.
    scratch: Vec<u8>,
}

impl<W: Write> Out<W> {
    fn bytes(&mut self, b: &[u8]) -> io::Result<()> {
        self.crc.update(b);
        self.w.write_all(b)
    }
    fn u8(&mut self, v: u8) -> io::Result<()> {
        self.bytes(&[v])
    }
    fn u32(&mut self, v: u32) -> io::Result<()> {
        self.bytes(&v.to_le_bytes())
    }
    fn u64(&mut self, v: u64) -> io::Result<()> {
        self.bytes(&v.to_le_bytes())
    }
    fn count(&mut self, n: usize) -> io::Result<()> {
        self.u64(n as u64)
    }
    fn blob(&mut self, b: &[u8]) -> io::Result<()> {
        let n = u32::try_from(b.len()).map_err(io::Error::other)?;
        self.u32(n)?;
        self.bytes(b)
    }
    fn json(&mut self, v: &impl Serialize) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        serde_json::to_writer(&mut buf, v).map_err(io::Error::other)?;
        let r = self.blob(&buf);
        self.scratch = buf;
        r
    }
}

/// A bounds-checked reader over an image's bytes.
struct In<'a> {
    b: &'a [u8],
}

impl<'a> In<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.b.len() < n {
            return Err(corrupt("truncated"));
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, Error> {
        let mut a = [0; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, Error> {
        let mut a = [0; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    /// A count of items each at least `min` bytes long: never more than the bytes left allow, so that a
    /// damaged count cannot make a reader reserve without bound.
    fn count(&mut self, min: usize) -> Result<usize, Error> {
        let n = usize::try_from(self.u64()?).map_err(|_| corrupt("count out of range"))?;
        if n > self.b.len() / min.max(1) {
            return Err(corrupt("count larger than the file"));
        }
        Ok(n)
    }
    fn blob(&mut self) -> Result<&'a [u8], Error> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn str(&mut self) -> Result<&'a str, Error> {
        std::str::from_utf8(self.blob()?).map_err(corrupt)
    }
    fn json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, Error> {
        serde_json::from_slice(self.blob()?).map_err(corrupt)
    }
}

/// Read an image's header only (after checking the whole file's CRC): what the service compares with its
/// store before reading the rest.
///
/// # Errors
/// [`Error::Storage`]: not an image of this version, or damaged.
pub fn image_header(bytes: &[u8]) -> Result<ImageHeader, Error> {
    let mut r = body(bytes)?;
    header(&mut r)
}

fn body(bytes: &[u8]) -> Result<In<'_>, Error> {
    if bytes.len() < MAGIC.len() + 4 || !bytes.starts_with(MAGIC) {
        return Err(corrupt("not a directory image of this version"));
    }
    let (data, tail) = bytes.split_at(bytes.len() - 4);
    let mut crc = [0; 4];
    crc.copy_from_slice(tail);
    if crc32fast::hash(data) != u32::from_le_bytes(crc) {
        return Err(corrupt("checksum mismatch (damaged or incomplete file)"));
    }
    Ok(In {
        b: &data[MAGIC.len()..],
    })
}

fn header(r: &mut In<'_>) -> Result<ImageHeader, Error> {
    Ok(ImageHeader {
        origin: r.str()?.to_owned(),
        position: r.u64()?,
    })
}

/// File an image's topic subscriptions, which come grouped by topic (as [`Directory::write_image`] writes
/// them): each topic's members in one map, each participant's list of topics built by position and
/// inserted once. The same maps as [`links::file_topic`] for each subscription.
fn file_topics(
    ids: &[ParticipantId],
    topics: Vec<ImageTopic>,
    topics_of: &mut HashMap<ParticipantId, Vec<String>>,
    by_topic: &mut HashMap<String, HashMap<ParticipantId, TopicSubscription>>,
) {
    let mut mine: Vec<Vec<String>> = vec![Vec::new(); ids.len()];
    let mut run: Option<(String, HashMap<ParticipantId, TopicSubscription>)> = None;
    let mut flush = |run: Option<(String, HashMap<ParticipantId, TopicSubscription>)>| {
        if let Some((topic, members)) = run {
            by_topic.entry(topic).or_default().extend(members);
        }
    };
    for t in topics {
        let Some(id) = ids.get(t.who as usize) else {
            continue;
        };
        if run.as_ref().is_none_or(|(topic, _)| *topic != t.topic) {
            flush(run.take());
            run = Some((t.topic.clone(), HashMap::new()));
        }
        let list = &mut mine[t.who as usize];
        if !list.contains(&t.topic) {
            list.push(t.topic.clone());
        }
        if let Some((_, members)) = run.as_mut() {
            members.insert(
                id.clone(),
                TopicSubscription {
                    participant: id.clone(),
                    topic: t.topic,
                    role: t.role,
                    expertise: t.expertise,
                    when_busy: t.when_busy,
                },
            );
        }
    }
    flush(run);
    topics_of.reserve(mine.iter().filter(|l| !l.is_empty()).count());
    for (id, list) in ids.iter().zip(mine) {
        if !list.is_empty() {
            topics_of.insert(id.clone(), list);
        }
    }
}

/// A topic subscription as the image holds it: the position of its participant and the rest.
struct ImageTopic {
    who: u32,
    topic: String,
    role: TopicRole,
    expertise: Expertise,
    when_busy: bool,
}

impl<I: SearchIndex> Directory<I> {
    /// Write this directory's image with `header` to `w`. The caller
    /// holds the directory still while it writes (the service does, under its writer lock).
    ///
    /// # Errors
    /// What `w` returns.
    pub fn write_image(&self, w: impl Write, header: &ImageHeader) -> io::Result<()> {
        let mut o = Out {
            w: io::BufWriter::with_capacity(1 << 20, w),
            crc: crc32fast::Hasher::new(),
            scratch: Vec::new(),
        };
        o.bytes(MAGIC)?;
        o.blob(header.origin.as_bytes())?;
        o.u64(header.position)?;
        let people: Vec<&Participant> = self.participants.values().map(|p| &**p).collect();
        let at: HashMap<&ParticipantId, u32> = people
            .iter()
            .enumerate()
            .map(|(i, p)| (&p.id, u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        // Participants with the number of their permissions, then the distinct permissions.
        let mut sets: HashMap<Vec<u8>, u32> = HashMap::new();
        let mut set_list: Vec<Vec<u8>> = Vec::new();
        o.count(people.len())?;
        for p in &people {
            let perm = serde_json::to_vec(&p.permissions).map_err(io::Error::other)?;
            let k = match sets.get(&perm) {
                Some(k) => *k,
                None => {
                    let k = u32::try_from(set_list.len()).map_err(io::Error::other)?;
                    set_list.push(perm.clone());
                    sets.insert(perm, k);
                    k
                }
            };
            o.u32(k)?;
            o.json(&ImageParticipant {
                id: &p.id,
                entity: &p.entity,
                identities: &p.identities,
                org: &p.org,
                verification: &p.verification,
                utc_offset_minutes: p.utc_offset_minutes,
                region: &p.region,
                created_ms: p.created_ms,
                updated_ms: p.updated_ms,
            })?;
        }
        o.count(set_list.len())?;
        for set in &set_list {
            o.blob(set)?;
        }
        // Graph slot → position: one lookup per participant in the graph, not two per relationship.
        let position: Vec<Option<u32>> = self
            .graph
            .slot_ids()
            .iter()
            .map(|id| id.as_ref().and_then(|id| at.get(id).copied()))
            .collect();
        let pos = |slot: u32| position.get(slot as usize).copied().flatten();
        let links: Vec<(u32, u32, RelationshipKind)> = self
            .graph
            .declared_slots()
            .filter_map(|(a, b, k)| Some((pos(a)?, pos(b)?, k)))
            .collect();
        o.count(links.len())?;
        for (a, b, k) in links {
            o.u32(a)?;
            o.u32(b)?;
            o.u8(code(&KINDS, &k)?)?;
        }
        let topics: Vec<(u32, &TopicSubscription)> = self
            .topics
            .values()
            .flat_map(HashMap::values)
            .filter_map(|t| Some((*at.get(&t.participant)?, t)))
            .collect();
        o.count(topics.len())?;
        for (who, t) in topics {
            o.u32(who)?;
            o.blob(t.topic.as_bytes())?;
            o.u8(code(&ROLES, &t.role)?)?;
            o.u8(code(&LEVELS, &t.expertise)?)?;
            o.u8(u8::from(t.when_busy))?;
        }
        let ratings: Vec<TrustRating> = self.ratings.iter().collect();
        o.count(ratings.len())?;
        for r in &ratings {
            o.json(r)?;
        }
        o.count(self.priorities.len())?;
        for s in self.priorities.values() {
            o.json(s)?;
        }
        o.u64(self.next_contact)?;
        o.count(self.contacts.len())?;
        for c in self.contacts.values() {
            o.json(c)?;
        }
        match self.index.parts() {
            Some(parts) => {
                o.u8(1)?;
                o.count(parts.terms.len())?;
                for t in &parts.terms {
                    o.blob(t.as_bytes())?;
                }
                let docs: Vec<(u32, &[(u32, Field)])> = parts
                    .docs
                    .iter()
                    .filter_map(|(id, pairs)| Some((*at.get(id)?, pairs.as_slice())))
                    .collect();
                o.count(docs.len())?;
                for (who, pairs) in docs {
                    o.u32(who)?;
                    o.u32(u32::try_from(pairs.len()).map_err(io::Error::other)?)?;
                    for &(t, f) in pairs {
                        o.u32(t)?;
                        o.u8(code(&Field::ALL, &f)?)?;
                    }
                }
            }
            None => o.u8(0)?,
        }
        let crc = o.crc.clone().finalize();
        o.w.write_all(&crc.to_le_bytes())?;
        o.w.flush()
    }

    /// The directory an image holds, over `index` (empty), and the image's header. Memory afterwards is
    /// what [`Directory::restore`] builds from the same state: the image only saves the work.
    ///
    /// # Errors
    /// [`Error::Storage`]: not an image of this version, damaged, or inconsistent.
    pub fn read_image(index: I, bytes: &[u8]) -> Result<(Self, ImageHeader), Error> {
        let mut r = body(bytes)?;
        let head = header(&mut r)?;
        // Participants: their JSON located first, then parsed on two threads.
        let n = r.count(8)?;
        let mut blobs = Vec::with_capacity(n);
        for _ in 0..n {
            let set = r.u32()? as usize;
            blobs.push((set, r.blob()?));
        }
        let sets: Vec<crate::model::DiscoveryPermissions> = (0..r.count(4)?)
            .map(|_| r.json())
            .collect::<Result<_, _>>()?;
        let parse = |part: &[(usize, &[u8])]| -> Result<Vec<Participant>, Error> {
            part.iter()
                .map(|(set, b)| {
                    let rest: ImageParticipantOwned = serde_json::from_slice(b).map_err(corrupt)?;
                    let perm = sets
                        .get(*set)
                        .ok_or_else(|| corrupt("a participant names no permission set"))?;
                    Ok(rest.with(perm.clone()))
                })
                .collect()
        };
        let (first, second) = blobs.split_at(n / 2);
        let (a, b) = std::thread::scope(|s| {
            let other = s.spawn(|| parse(second));
            let mine = parse(first);
            (mine, other.join())
        });
        let mut people = a?;
        people.extend(b.map_err(|_| corrupt("a parsing thread failed"))??);
        drop(blobs);
        let links_n = r.count(9)?;
        let mut links = Vec::with_capacity(links_n);
        for _ in 0..links_n {
            let (a, b) = (r.u32()?, r.u32()?);
            links.push((a, b, decode(&KINDS, r.u8()?, "relationship")?));
        }
        let topics_n = r.count(11)?;
        let mut topics = Vec::with_capacity(topics_n);
        for _ in 0..topics_n {
            topics.push(ImageTopic {
                who: r.u32()?,
                topic: r.str()?.to_owned(),
                role: decode(&ROLES, r.u8()?, "topic role")?,
                expertise: decode(&LEVELS, r.u8()?, "expertise")?,
                when_busy: r.u8()? != 0,
            });
        }
        let ratings: Vec<TrustRating> = (0..r.count(4)?)
            .map(|_| r.json())
            .collect::<Result<_, _>>()?;
        let priorities: Vec<PrioritySettings> = (0..r.count(4)?)
            .map(|_| r.json())
            .collect::<Result<_, _>>()?;
        let next_contact = r.u64()?;
        let contacts: Vec<ContactRequest> = (0..r.count(4)?)
            .map(|_| r.json())
            .collect::<Result<_, _>>()?;
        let parts = match r.u8()? {
            0 => None,
            _ => {
                let mut p = OwnedIndexParts::default();
                for _ in 0..r.count(4)? {
                    p.terms.push(r.str()?.to_owned());
                }
                let mut seen = vec![false; people.len()];
                for _ in 0..r.count(8)? {
                    let who = r.u32()? as usize;
                    let m = r.u32()? as usize;
                    if m > r.b.len() / 5 {
                        return Err(corrupt("count larger than the file"));
                    }
                    let mut pairs = Vec::with_capacity(m);
                    for _ in 0..m {
                        let t = r.u32()?;
                        pairs.push((t, decode(&Field::ALL, r.u8()?, "field")?));
                    }
                    match seen.get_mut(who) {
                        Some(s) if !*s => *s = true,
                        _ => return Err(corrupt("an index document names no participant")),
                    }
                    p.docs.push((people[who].id.clone(), pairs));
                }
                Some(p)
            }
        };
        if !r.b.is_empty() {
            return Err(corrupt("bytes after the last section"));
        }
        let mut d = Self::assemble(index, people, &links, topics, parts)?;
        for r in ratings {
            if d.participants.contains_key(&r.rater) && d.participants.contains_key(&r.ratee) {
                d.ratings.put(&r);
            }
        }
        for s in priorities {
            if d.participants.contains_key(&s.participant) {
                d.priorities.insert(s.participant.clone(), s);
            }
        }
        d.next_contact = next_contact.max(1);
        for c in contacts {
            d.next_contact = d.next_contact.max(c.id + 1);
            if d.participants.contains_key(&c.from) && d.participants.contains_key(&c.to) {
                d.file_contact(c);
            }
        }
        Ok((d, head))
    }

    /// Memory from an image's participants (in image order), links, topics and index parts: the index
    /// and the topics on one thread, the participants' maps and the graph on this one.
    fn assemble(
        index: I,
        people: Vec<Participant>,
        links: &[(u32, u32, RelationshipKind)],
        topics: Vec<ImageTopic>,
        parts: Option<OwnedIndexParts>,
    ) -> Result<Self, Error> {
        let ids: Vec<ParticipantId> = people.iter().map(|p| p.id.clone()).collect();
        let mut d = Self::new(index);
        d.participants.reserve(people.len());
        d.by_aor.reserve(people.len());
        let Self {
            participants,
            topics: by_topic,
            topics_of,
            index,
            graph,
            by_org,
            by_aor,
            ..
        } = &mut d;
        let ids = &ids;
        let indexed = std::thread::scope(|scope| {
            let indexing = scope.spawn(move || {
                let indexed = parts.is_some_and(|p| index.load_parts(p));
                file_topics(ids, topics, topics_of, by_topic);
                indexed
            });
            let mut dup = false;
            let mut org = String::new();
            for p in people {
                if let Some(o) = p.organization() {
                    // Organizations repeat: the lower-cased name in a reused buffer, copied only when new.
                    org.clear();
                    org.extend(o.chars().flat_map(char::to_lowercase));
                    match by_org.get_mut(org.as_str()) {
                        Some(members) => {
                            members.insert(p.id.clone());
                        }
                        None => {
                            by_org.insert(org.clone(), HashSet::from([p.id.clone()]));
                        }
                    }
                }
                if let Some(a) = p.primary().and_then(|i| i.sip_aor.as_deref()) {
                    by_aor.insert(a.to_owned(), p.id.clone());
                }
                dup |= participants.insert(p.id.clone(), Box::new(p)).is_some();
            }
            graph.load_indexed(ids, links.iter().copied());
            let indexed = match indexing.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            if dup {
                Err(corrupt("a participant appears twice"))
            } else {
                Ok(indexed)
            }
        })?;
        if !indexed {
            let docs: Vec<IndexDoc> = d
                .participants
                .values()
                .map(|p| index_doc(p, &d.topics_of))
                .collect();
            for doc in &docs {
                d.index.upsert(doc);
            }
        }
        Ok(d)
    }
}
