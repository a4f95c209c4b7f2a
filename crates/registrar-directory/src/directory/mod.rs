//! [`Directory`]: the participants, relationships, topics and ratings in memory, the search index, and
//! contact resolution. Sans-IO: every change returns the [`DirectoryChange`]s a [`DirectoryStore`] must
//! write, and availability comes in through [`Availability`] lookups the caller provides.
//!
//! [`DirectoryStore`]: crate::DirectoryStore

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::audit::{AuditAction, AuditEntry, AuditParty};
use crate::contact::{ContactRequest, ContactState};
use crate::graph::{Graph, Ratings, proximity_score, trust, trust_with, weights};
use crate::model::{
    EntityType, Expertise, Field, Participant, ParticipantId, Relationship, TopicRole,
    TopicSubscription, TrustRating,
};
use crate::priority::{self, Message, PriorityDecision, PrioritySettings, SenderFacts};
use crate::privacy::{self, How, ParticipantView, Permission, Requester, Ties};
use crate::search::{IndexDoc, SearchIndex};

pub use image::{ImageHeader, image_header};

mod contacts;
mod decisions;
mod experts;
mod image;
mod links;
mod participants;
mod priorities;
mod resolution;
mod rights;

/// Live availability of a participant (from presence).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Availability {
    /// Open and not busy.
    Available,
    /// Away.
    Away,
    /// Busy or on the phone.
    Busy,
    /// Do not disturb.
    DoNotDisturb,
    /// Closed or not registered.
    Offline,
    /// No presence known.
    #[default]
    Unknown,
}

impl Availability {
    const fn score(self) -> f64 {
        match self {
            Self::Available => 1.0,
            Self::Away => 0.5,
            Self::Unknown => 0.3,
            Self::Busy | Self::DoNotDisturb => 0.2,
            Self::Offline => 0.0,
        }
    }
}

/// A change the store must make durable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DirectoryChange {
    /// A participant was added or changed.
    PutParticipant(Box<Participant>),
    /// A participant was erased (with their relationships, topics and ratings).
    EraseParticipant(ParticipantId),
    /// A relationship was added or changed.
    PutRelationship(Relationship),
    /// A relationship was removed.
    RemoveRelationship(ParticipantId, ParticipantId),
    /// A topic subscription was added or changed.
    PutTopic(TopicSubscription),
    /// A rating was added or replaced.
    PutRating(TrustRating),
    /// Priority settings were set.
    PutPriority(PrioritySettings),
    /// An audit entry to append.
    Audit(AuditEntry),
    /// A contact request was made or changed.
    PutContact(ContactRequest),
}

impl DirectoryChange {
    /// Whether this change is data about `id` that an erasure of `id` removes: their profile, their
    /// priority settings, topics, and the relationships, ratings and contact requests with them at either end.
    /// (Another participant's profile that names `id`, on a block list say, is that participant's data.)
    pub fn concerns(&self, id: &ParticipantId) -> bool {
        match self {
            Self::PutParticipant(p) => &p.id == id,
            Self::EraseParticipant(x) => x == id,
            Self::PutRelationship(r) => &r.from == id || &r.to == id,
            Self::RemoveRelationship(a, b) => a == id || b == id,
            Self::PutTopic(t) => &t.participant == id,
            Self::PutRating(r) => &r.rater == id || &r.ratee == id,
            Self::PutPriority(p) => &p.participant == id,
            Self::PutContact(c) => &c.from == id || &c.to == id,
            Self::Audit(e) => e.subject.is(id) || e.actor.is(id),
        }
    }
}

/// How urgent the requester's need is (urgent queries weigh availability more).
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Urgency {
    /// Whenever.
    #[default]
    Normal,
    /// Now.
    Urgent,
}

/// Hints that narrow a query (they travel as they are in a federated lookup).
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hints {
    /// Organization.
    pub organization: Option<String>,
    /// Domain of the participant's id.
    pub domain: Option<String>,
    /// Role.
    pub role: Option<String>,
    /// Entity type.
    pub entity: Option<EntityType>,
    /// A capability.
    pub capability: Option<String>,
    /// A language.
    pub language: Option<String>,
}

/// A contact-resolution query.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Query {
    /// The name or free text ("Alice", "deployment bot").
    pub text: String,
    /// An exact id, when known.
    pub exact_id: Option<ParticipantId>,
    /// The requester was referred to `exact_id` by someone.
    pub referral: bool,
    /// Hints.
    pub hints: Hints,
    /// A topic: its experts are candidates too.
    pub topic: Option<String>,
    /// Urgency.
    pub urgency: Urgency,
    /// Most candidates returned (0: 10).
    pub limit: usize,
}

/// A way to reach a candidate.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct Reach {
    /// `sip` or `email`.
    pub method: String,
    /// The address.
    pub address: String,
}

/// One ranked candidate.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// What the requester may see of them.
    pub participant: ParticipantView,
    /// Why they matched ("name matched", "expert on …", "organization hint matched").
    pub why: Vec<String>,
    /// Text relevance, 0–1.
    pub relevance: f64,
    /// Trust as seen by the requester, 0–100.
    pub trust: u8,
    /// Degrees of separation from the requester (within 3 hops).
    pub proximity: Option<u8>,
    /// Live availability.
    pub availability: Availability,
    /// How to reach them (empty unless the profile level shows contact details and contact is allowed).
    pub reach: Vec<Reach>,
    /// Whether the requester may make contact.
    pub permission: Permission,
    /// The ranking score, 0–1.
    pub score: f64,
}

/// The answer to a query.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "outcome", content = "candidates", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Resolution {
    /// One candidate is clearly ahead.
    Resolved(Box<Candidate>),
    /// Several could be meant, best first (possibly none).
    Suggestions(Vec<Candidate>),
}

impl Resolution {
    /// The candidates, best first.
    pub fn candidates(&self) -> Vec<&Candidate> {
        match self {
            Self::Resolved(c) => vec![c],
            Self::Suggestions(v) => v.iter().collect(),
        }
    }
}

/// The ranking weights (documented in docs/directory.md).
pub mod ranking {
    /// Text relevance.
    pub const RELEVANCE: f64 = 0.45;
    /// Share of the given hints that matched.
    pub const HINTS: f64 = 0.20;
    /// Trust.
    pub const TRUST: f64 = 0.15;
    /// Proximity.
    pub const PROXIMITY: f64 = 0.10;
    /// Availability (doubled, taken from relevance, for urgent queries).
    pub const AVAILABILITY: f64 = 0.10;
    /// Relevance enters the score as (relevance / best relevance of the query) to this power.
    pub const SHARPEN: i32 = 3;
    /// The top candidate is resolved directly when its score is at least this …
    pub const RESOLVE_MIN: f64 = 0.5;
    /// … and this far ahead of the second.
    pub const RESOLVE_GAP: f64 = 0.15;
}

/// The directory's state and rules.
pub struct Directory<I: SearchIndex> {
    participants: HashMap<ParticipantId, Box<Participant>>,
    graph: Graph,
    ratings: Ratings,
    topics: HashMap<String, HashMap<ParticipantId, TopicSubscription>>,
    topics_of: HashMap<ParticipantId, Vec<String>>,
    /// Lower-cased organization → its members (for listings by role).
    by_org: HashMap<String, HashSet<ParticipantId>>,
    priorities: HashMap<ParticipantId, PrioritySettings>,
    /// When each expert was last routed a request (ms), for fair spreading; in memory only.
    last_routed: HashMap<ParticipantId, u64>,
    contacts: BTreeMap<u64, ContactRequest>,
    /// Participant → the numbers of the contact requests they made or received.
    contacts_of: HashMap<ParticipantId, Vec<u64>>,
    next_contact: u64,
    /// Primary SIP AoR → participant (presence events name AoRs).
    by_aor: HashMap<String, ParticipantId>,
    index: I,
}

impl<I: SearchIndex> std::fmt::Debug for Directory<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("participants", &self.participants.len())
            .field("indexed", &self.index.len())
            .finish_non_exhaustive()
    }
}

fn eq_ci(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

impl<I: SearchIndex> Directory<I> {
    /// An empty directory over `index`.
    pub fn new(index: I) -> Self {
        Self {
            participants: HashMap::new(),
            graph: Graph::default(),
            ratings: Ratings::default(),
            topics: HashMap::new(),
            topics_of: HashMap::new(),
            by_org: HashMap::new(),
            priorities: HashMap::new(),
            last_routed: HashMap::new(),
            contacts: BTreeMap::new(),
            contacts_of: HashMap::new(),
            next_contact: 1,
            by_aor: HashMap::new(),
            index,
        }
    }

    /// A directory over `index` holding what a store loaded. Entries whose participant is missing (a store
    /// written by hand, or an erasure that raced a write) are skipped.
    pub fn restore(index: I, snapshot: crate::Snapshot) -> Self {
        let mut d = Self::new(index);
        let crate::Snapshot {
            participants,
            relationships,
            topics,
            ratings,
            priorities,
            contacts,
        } = snapshot;
        d.participants.reserve(participants.len());
        d.by_aor.reserve(participants.len());
        for p in participants {
            if let Some(o) = p.organization() {
                d.by_org
                    .entry(o.to_lowercase())
                    .or_default()
                    .insert(p.id.clone());
            }
            d.list_aor(&p);
            d.participants.insert(p.id.clone(), Box::new(p));
        }
        // Two threads, sharing nothing but the participants, which both only read: topics and then the
        // search index (whose documents hold the topics) on one; the graph and ratings on this one.
        let Self {
            participants: people,
            topics: by_topic,
            topics_of,
            index,
            graph,
            ratings: rated,
            ..
        } = &mut d;
        let people = &*people;
        std::thread::scope(|scope| {
            let indexing = scope.spawn(move || {
                topics_of.reserve(people.len());
                for mut t in topics {
                    if !people.contains_key(&t.participant) {
                        continue;
                    }
                    // Stored topics are already trimmed and lower-cased: a copy only when not.
                    let trimmed = t.topic.trim();
                    let plain = trimmed.len() == t.topic.len()
                        && trimmed
                            .bytes()
                            .all(|b| b.is_ascii() && !b.is_ascii_uppercase());
                    if !plain {
                        t.topic = trimmed.to_lowercase();
                    }
                    links::file_topic(topics_of, by_topic, t);
                }
                for p in people.values() {
                    index.upsert(&index_doc(p, topics_of));
                }
            });
            graph.load(people.keys(), relationships);
            for r in ratings {
                if people.contains_key(&r.rater) && people.contains_key(&r.ratee) {
                    rated.put(&r);
                }
            }
            if let Err(panic) = indexing.join() {
                std::panic::resume_unwind(panic);
            }
        });
        for s in priorities {
            if d.participants.contains_key(&s.participant) {
                d.priorities.insert(s.participant.clone(), s);
            }
        }
        for c in contacts {
            d.next_contact = d.next_contact.max(c.id + 1);
            if d.participants.contains_key(&c.from) && d.participants.contains_key(&c.to) {
                d.file_contact(c);
            }
        }
        d
    }

    /// Apply a change another instance made (read from a shared store's feed, [`crate::SharedStore`]): the
    /// same effect on memory as the call that produced it. Audit entries have none.
    pub fn replay(&mut self, change: &DirectoryChange) {
        match change {
            DirectoryChange::PutParticipant(p) => self.insert_participant((**p).clone()),
            DirectoryChange::EraseParticipant(id) => {
                // Gone already (erased twice, or never seen): nothing to do.
                let _ = self.erase(None, id, 0);
            }
            DirectoryChange::PutRelationship(r) => {
                if self.participants.contains_key(&r.from) && self.participants.contains_key(&r.to)
                {
                    self.graph.put(r);
                }
            }
            DirectoryChange::RemoveRelationship(a, b) => self.graph.remove(a, b),
            DirectoryChange::PutTopic(t) => {
                if self.participants.contains_key(&t.participant) {
                    self.insert_topic(t.clone());
                }
            }
            DirectoryChange::PutRating(r) => {
                if self.participants.contains_key(&r.rater)
                    && self.participants.contains_key(&r.ratee)
                {
                    self.ratings.put(r);
                }
            }
            DirectoryChange::PutPriority(p) => {
                if self.participants.contains_key(&p.participant) {
                    self.priorities.insert(p.participant.clone(), p.clone());
                }
            }
            DirectoryChange::PutContact(c) => {
                self.next_contact = self.next_contact.max(c.id + 1);
                if let Some(old) = self.contacts.get_mut(&c.id) {
                    *old = c.clone();
                } else if self.participants.contains_key(&c.from)
                    && self.participants.contains_key(&c.to)
                {
                    self.file_contact(c.clone());
                }
            }
            DirectoryChange::Audit(_) => {}
        }
    }
}

/// What the search index holds of `p`: the texts of the fields they made searchable (`topics_of`: the
/// topics each participant follows).
fn index_doc(p: &Participant, topics_of: &HashMap<ParticipantId, Vec<String>>) -> IndexDoc {
    let mut fields = Vec::new();
    let primary = p.primary();
    for f in Field::ALL {
        if !privacy::searchable(p, f) {
            continue;
        }
        let text = match f {
            Field::Name => Some(
                p.identities
                    .iter()
                    .filter(|i| i.active)
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            Field::Organization => p.organization().map(str::to_owned),
            Field::Role => p.role().map(str::to_owned),
            Field::Department => p.department().map(str::to_owned),
            Field::Capabilities => primary.map(|i| i.capabilities.join(" ")),
            Field::Languages => primary.map(|i| i.languages.join(" ")),
            Field::Topics => topics_of.get(&p.id).map(|t| t.join(" ")),
            Field::Email => primary.and_then(|i| i.email.clone()),
            Field::SipAor => primary.and_then(|i| i.sip_aor.clone()),
        };
        if let Some(t) = text.filter(|t| !t.is_empty()) {
            fields.push((f, t));
        }
    }
    IndexDoc {
        id: p.id.clone(),
        fields,
    }
}

fn audit(
    req: &Requester,
    subject: &ParticipantId,
    action: AuditAction,
    decision: String,
    now_ms: u64,
) -> DirectoryChange {
    DirectoryChange::Audit(AuditEntry {
        at_ms: now_ms,
        actor: AuditParty::actor(req.audit_id()),
        subject: AuditParty::Participant(subject.clone()),
        action,
        decision,
    })
}

/// The audit entry of a lookup of `id`, which names no participant: written like a hidden participant's
/// ("hidden"), so the two cost the same store write and no answer's timing tells them apart, with the id's
/// digest as subject, so an erased participant's id is not written again.
fn missing(
    req: &Requester,
    id: &ParticipantId,
    action: AuditAction,
    now_ms: u64,
) -> DirectoryChange {
    DirectoryChange::Audit(AuditEntry {
        at_ms: now_ms,
        actor: AuditParty::actor(req.audit_id()),
        subject: AuditParty::tombstone(id),
        action,
        decision: "hidden".into(),
    })
}

/// The audit entries of a discovery that returned `found`.
fn discovered(req: &Requester, found: &[Candidate], now_ms: u64) -> Vec<DirectoryChange> {
    found
        .iter()
        .filter_map(|c| ParticipantId::parse(&c.participant.id).ok())
        .zip(found)
        .map(|(id, c)| {
            let mut decision = permission_text(&c.permission);
            if let Some(r) = &req.remote {
                decision.push_str(&format!(" (via {})", r.server));
            }
            audit(req, &id, AuditAction::Discovered, decision, now_ms)
        })
        .collect()
}

fn permission_text(p: &Permission) -> String {
    match p {
        Permission::Allowed => "contact allowed".into(),
        Permission::RequiresIntroduction => "contact requires introduction".into(),
        Permission::RequiresApproval { reason } => format!("contact requires approval: {reason}"),
        Permission::Denied { reason } => format!("contact denied: {reason}"),
    }
}

const fn level_name(l: crate::model::ProfileLevel) -> &'static str {
    use crate::model::ProfileLevel as L;
    match l {
        L::Minimal => "minimal",
        L::Basic => "basic",
        L::Standard => "standard",
        L::Detailed => "detailed",
        L::Full => "full",
    }
}

const fn expertise_name(e: Expertise) -> &'static str {
    match e {
        Expertise::Beginner => "beginner",
        Expertise::Intermediate => "intermediate",
        Expertise::Advanced => "advanced",
        Expertise::Expert => "expert",
        Expertise::Authority => "authority",
    }
}

/// One hint: the field it is checked against (`None`: shown at every level), whether it matched, its name.
type HintMatch = (Option<Field>, bool, &'static str);

/// How a query found one participant, before the privacy rules cut it.
struct Found {
    how: How,
    /// The text search's relevance (0 when the text did not find it).
    text: f64,
    /// The best relevance of the other ways: the exact id, expertise on the query's topic.
    other: f64,
    /// The fields the text matched.
    matched: Vec<Field>,
    /// Reasons that name no profile field of theirs: the exact id, a topic the requester asked for.
    reasons: Vec<String>,
    /// An expert on the query's topic.
    expert: bool,
    /// A member of the hinted organization with the hinted role.
    member: bool,
}

impl Found {
    fn new(how: How) -> Self {
        Self {
            how,
            text: 0.0,
            other: 0.0,
            matched: Vec::new(),
            reasons: Vec::new(),
            expert: false,
            member: false,
        }
    }
}

/// A query's candidates before availability is known ([`Directory::gather`]).
#[derive(Clone, Debug)]
pub struct Gathered {
    candidates: Vec<(ParticipantId, Candidate)>,
    urgency: Urgency,
    limit: usize,
}

impl Gathered {
    /// The participants whose availability [`Directory::finish`] will ask for.
    pub fn ids(&self) -> impl Iterator<Item = &ParticipantId> {
        self.candidates.iter().map(|(id, _)| id)
    }
}

/// An expert search.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpertQuery {
    /// The topic.
    pub topic: String,
    /// The lowest expertise wanted.
    pub min: Expertise,
    /// Only members of this organization.
    pub organization: Option<String>,
    /// Only this region.
    pub region: Option<String>,
    /// Most returned (0: 10).
    pub limit: usize,
}

/// Everything the directory holds about one participant (a data-export answer).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Export {
    /// Their profile and settings.
    pub participant: Participant,
    /// Relationships either way.
    pub relationships: Vec<Relationship>,
    /// Topic subscriptions.
    pub topics: Vec<TopicSubscription>,
    /// Ratings of them.
    pub ratings_received: Vec<TrustRating>,
    /// Ratings by them.
    pub ratings_given: Vec<TrustRating>,
    /// Priority settings, if set.
    pub priority: Option<PrioritySettings>,
    /// The audit log's entries about them (filled from the store).
    pub audit: Vec<AuditEntry>,
}

fn project(
    p: &Participant,
    level: crate::model::ProfileLevel,
    topics: Option<&Vec<String>>,
) -> ParticipantView {
    privacy::project(p, level, topics.map_or(&[], Vec::as_slice))
}

const fn field_name(f: Field) -> &'static str {
    match f {
        Field::Name => "name",
        Field::Organization => "organization",
        Field::Role => "role",
        Field::Department => "department",
        Field::Capabilities => "capability",
        Field::Languages => "language",
        Field::Topics => "topic",
        Field::Email => "email",
        Field::SipAor => "SIP address",
    }
}
