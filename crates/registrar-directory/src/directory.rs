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
    participants: HashMap<ParticipantId, Participant>,
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
        // Topics first go into the maps, so each participant is indexed once with its topics.
        for p in participants {
            if let Some(o) = p.organization() {
                d.by_org
                    .entry(o.to_lowercase())
                    .or_default()
                    .insert(p.id.clone());
            }
            d.list_aor(&p);
            d.participants.insert(p.id.clone(), p);
        }
        for mut t in topics {
            if !d.participants.contains_key(&t.participant) {
                continue;
            }
            t.topic = t.topic.trim().to_lowercase();
            d.topics_of
                .entry(t.participant.clone())
                .or_default()
                .push(t.topic.clone());
            d.topics
                .entry(t.topic.clone())
                .or_default()
                .insert(t.participant.clone(), t);
        }
        // The search index on one thread, the graph and ratings on this one: they share nothing but the
        // participants, which both only read.
        let Self {
            participants: people,
            topics_of,
            index,
            graph,
            ratings: rated,
            ..
        } = &mut d;
        let people = &*people;
        let topics_of = &*topics_of;
        std::thread::scope(|scope| {
            let indexing = scope.spawn(move || {
                for p in people.values() {
                    index.upsert(&index_doc(p, topics_of));
                }
            });
            graph.reserve(people.len(), relationships.len());
            for r in relationships {
                if people.contains_key(&r.from) && people.contains_key(&r.to) {
                    graph.put(&r);
                }
            }
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

    /// `req` asks to be put in touch with `to`. A participant `req` may not see cannot be asked (unknown,
    /// as if it did not exist); a denied contact is refused with its reason; a requester on `to`'s
    /// auto-accept list is approved at once; an undecided request from the same requester is returned again
    /// rather than repeated. The changes include the audit entry of the permission decision.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`], [`Error::Forbidden`], [`Error::Invalid`] (a note over 500 bytes, an
    /// anonymous requester, or asking oneself).
    pub fn ask_contact(
        &mut self,
        req: &Requester,
        to: &ParticipantId,
        note: &str,
        now_ms: u64,
    ) -> Result<(ContactRequest, Vec<DirectoryChange>), Error> {
        let Some(from) = req.id.clone() else {
            return Err(Error::Invalid(
                "an anonymous requester cannot ask for contact".into(),
            ));
        };
        if &from == to {
            return Err(Error::Invalid("nobody asks to contact themself".into()));
        }
        crate::limits::note(note)?;
        let (permission, mut changes) = self.contact_permission(req, to, now_ms);
        let Some(permission) = permission else {
            return Err(Error::UnknownParticipant(to.to_string()));
        };
        if let Permission::Denied { reason } = &permission {
            return Err(Error::Forbidden(reason.clone()));
        }
        if let Some(open) = self
            .contacts_between(&from, to)
            .find(|c| c.from == from && c.state_at(now_ms) == ContactState::Pending)
        {
            return Ok((open.clone(), changes));
        }
        let granted = self
            .participants
            .get(to)
            .is_some_and(|p| p.permissions.auto_accept.contains(&from));
        let c = ContactRequest {
            id: self.next_contact,
            from,
            to: to.clone(),
            note: note.to_owned(),
            created_ms: now_ms,
            state: if granted {
                ContactState::Approved
            } else {
                ContactState::Pending
            },
            decided_ms: granted.then_some(now_ms),
        };
        self.next_contact += 1;
        self.file_contact(c.clone());
        changes.push(DirectoryChange::PutContact(c.clone()));
        Ok((c, changes))
    }

    /// `actor` approves or declines request `id` (only its recipient may, while it is pending).
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`] (no such request for `actor`), [`Error::Forbidden`] (decided or
    /// expired already).
    pub fn decide_contact(
        &mut self,
        actor: &ParticipantId,
        id: u64,
        approve: bool,
        now_ms: u64,
    ) -> Result<(ContactRequest, Vec<DirectoryChange>), Error> {
        let Some(c) = self.contacts.get_mut(&id).filter(|c| &c.to == actor) else {
            return Err(Error::UnknownParticipant(format!("contact request {id}")));
        };
        match c.state_at(now_ms) {
            ContactState::Pending => {}
            ContactState::Expired => {
                return Err(Error::Forbidden(format!(
                    "contact request {id} expired (undecided for 24 h)"
                )));
            }
            _ => {
                return Err(Error::Forbidden(format!(
                    "contact request {id} was decided already"
                )));
            }
        }
        c.state = if approve {
            ContactState::Approved
        } else {
            ContactState::Declined
        };
        c.decided_ms = Some(now_ms);
        let c = c.clone();
        Ok((c.clone(), vec![DirectoryChange::PutContact(c)]))
    }

    /// The contact requests `id` made or received, newest first, as of `now_ms` (expired ones marked).
    pub fn contact_requests(&self, id: &ParticipantId, now_ms: u64) -> Vec<ContactRequest> {
        let mut numbers = self.contacts_of.get(id).cloned().unwrap_or_default();
        numbers.sort_unstable_by(|a, b| b.cmp(a));
        numbers
            .iter()
            .filter_map(|n| self.contacts.get(n))
            .map(|c| c.clone().at(now_ms))
            .collect()
    }

    fn file_contact(&mut self, c: ContactRequest) {
        for party in [&c.from, &c.to] {
            let list = self.contacts_of.entry(party.clone()).or_default();
            if !list.contains(&c.id) {
                list.push(c.id);
            }
        }
        self.contacts.insert(c.id, c);
    }

    /// The contact requests between `a` and `b`, either way.
    fn contacts_between<'a>(
        &'a self,
        a: &'a ParticipantId,
        b: &'a ParticipantId,
    ) -> impl Iterator<Item = &'a ContactRequest> + 'a {
        self.contacts_of
            .get(a)
            .into_iter()
            .flatten()
            .filter_map(|n| self.contacts.get(n))
            .filter(move |c| (&c.from == a && &c.to == b) || (&c.from == b && &c.to == a))
    }

    /// Participants held.
    pub fn len(&self) -> usize {
        self.participants.len()
    }

    /// Whether no participant is held.
    pub fn is_empty(&self) -> bool {
        self.participants.is_empty()
    }

    /// A participant's full record (for the participant themself and the storage layer; requesters get
    /// [`Self::view`]).
    pub fn participant(&self, id: &ParticipantId) -> Option<&Participant> {
        self.participants.get(id)
    }

    fn doc(&self, p: &Participant) -> IndexDoc {
        index_doc(p, &self.topics_of)
    }

    fn list_aor(&mut self, p: &Participant) {
        if let Some(a) = p.primary().and_then(|i| i.sip_aor.as_deref()) {
            self.by_aor.insert(a.to_owned(), p.id.clone());
        }
    }

    /// The participant whose primary identity has SIP AoR `aor`.
    pub fn participant_by_sip_aor(&self, aor: &str) -> Option<&Participant> {
        self.by_aor
            .get(aor)
            .and_then(|id| self.participants.get(id))
    }

    /// Whether `watcher` may follow `target`'s presence: `target` is visible to them and they are related
    /// (a relationship `target` declared, or a mutual one) or a contact request between them was approved.
    pub fn may_watch(&self, watcher: &ParticipantId, target: &ParticipantId) -> bool {
        let Some(t) = self.participants.get(target) else {
            return false;
        };
        let req = self.requester(Some(watcher));
        if !self.decide(t, &req, How::ExactId).visible {
            return false;
        }
        self.graph.related(target, watcher)
            || self
                .contacts_between(watcher, target)
                .any(|c| c.state == ContactState::Approved)
    }

    fn unlist_org(&mut self, p: &Participant) {
        if let Some(a) = p.primary().and_then(|i| i.sip_aor.as_deref())
            && self.by_aor.get(a) == Some(&p.id)
        {
            self.by_aor.remove(a);
        }
        if let Some(o) = p.organization() {
            let key = o.to_lowercase();
            if let Some(set) = self.by_org.get_mut(&key) {
                set.remove(&p.id);
                if set.is_empty() {
                    self.by_org.remove(&key);
                }
            }
        }
    }

    /// Add or replace a participant.
    ///
    /// # Errors
    /// [`Error::Invalid`]: a text or list over its limit ([`crate::limits`]).
    pub fn put_participant(&mut self, p: Participant) -> Result<Vec<DirectoryChange>, Error> {
        crate::limits::participant(&p)?;
        let change = DirectoryChange::PutParticipant(Box::new(p.clone()));
        self.insert_participant(p);
        Ok(vec![change])
    }

    fn insert_participant(&mut self, p: Participant) {
        let doc = self.doc(&p);
        self.index.upsert(&doc);
        if let Some(old) = self.participants.get(&p.id).cloned() {
            self.unlist_org(&old);
        }
        if let Some(o) = p.organization() {
            self.by_org
                .entry(o.to_lowercase())
                .or_default()
                .insert(p.id.clone());
        }
        self.list_aor(&p);
        self.participants.insert(p.id.clone(), p);
    }

    /// Set a participant's priority settings.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`].
    pub fn put_priority(&mut self, mut s: PrioritySettings) -> Result<Vec<DirectoryChange>, Error> {
        if !self.participants.contains_key(&s.participant) {
            return Err(Error::UnknownParticipant(s.participant.to_string()));
        }
        crate::limits::priority(&s)?;
        for (t, _) in &mut s.per_topic {
            *t = t.trim().to_lowercase();
        }
        self.priorities.insert(s.participant.clone(), s.clone());
        Ok(vec![DirectoryChange::PutPriority(s)])
    }

    /// A participant's priority settings (defaults when none were set).
    pub fn priority_settings(&self, id: &ParticipantId) -> PrioritySettings {
        self.priorities
            .get(id)
            .cloned()
            .unwrap_or_else(|| PrioritySettings::new(id.clone()))
    }

    /// The priority of `m` for its recipient: their settings, their block lists, their relationship to the
    /// sender, their time zone.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`] for an unknown recipient.
    pub fn prioritize(&self, m: &Message) -> Result<PriorityDecision, Error> {
        let Some(r) = self.participants.get(&m.recipient) else {
            return Err(Error::UnknownParticipant(m.recipient.to_string()));
        };
        self.prioritize_for(r, m)
    }

    /// [`Self::prioritize`] asked by `req`: the recipient must be someone `req` may see by exact id, else
    /// the answer is the one for an id that does not exist (a sender the recipient blocked included).
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`].
    pub fn prioritize_as(&self, req: &Requester, m: &Message) -> Result<PriorityDecision, Error> {
        let r = self.known_to(req, &m.recipient)?;
        self.prioritize_for(r, m)
    }

    fn prioritize_for(&self, r: &Participant, m: &Message) -> Result<PriorityDecision, Error> {
        let sender_req = self.requester(m.sender.as_ref());
        // The recipient's own declaration: a mutual relationship includes one, and what the sender
        // declared alone counts for nothing.
        let relationship = m
            .sender
            .as_ref()
            .and_then(|s| self.graph.declared(&r.id, s).map(|(k, _)| k));
        let facts = SenderFacts {
            blocked: m.sender.is_some() && privacy::blocked(r, &sender_req),
            relationship,
        };
        let default = PrioritySettings::new(r.id.clone());
        let settings = self.priorities.get(&r.id).unwrap_or(&default);
        Ok(priority::prioritize(
            m,
            settings,
            r.utc_offset_minutes,
            &facts,
        ))
    }

    /// Add or replace a relationship (both ends must exist). Its `mutual` flag is not taken from `r`: a
    /// relationship is mutual exactly when both sides declared one ([`Graph`]), and the change stored says
    /// whether it is.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`]; [`Error::Invalid`]: `from` declared the most relationships allowed
    /// ([`crate::limits::RELATIONSHIPS`]) or `from` and `to` are the same.
    pub fn put_relationship(&mut self, mut r: Relationship) -> Result<Vec<DirectoryChange>, Error> {
        for id in [&r.from, &r.to] {
            if !self.participants.contains_key(id) {
                return Err(Error::UnknownParticipant(id.to_string()));
            }
        }
        if r.from == r.to {
            return Err(Error::Invalid(
                "a relationship is between two participants".into(),
            ));
        }
        if self.graph.declared(&r.from, &r.to).is_none()
            && self.graph.declared_by(&r.from) >= crate::limits::RELATIONSHIPS
        {
            return Err(Error::Invalid(format!(
                "relationships: at most {} declared by one participant",
                crate::limits::RELATIONSHIPS
            )));
        }
        self.graph.put(&r);
        r.mutual = self.graph.declared(&r.to, &r.from).is_some();
        Ok(vec![DirectoryChange::PutRelationship(r)])
    }

    /// [`Self::put_relationship`] declared by `req` (the caller checked that `req` is `r.from`): `r.to` must
    /// be someone `req` may see by exact id, else the answer is the one for an id that does not exist.
    ///
    /// # Errors
    /// As [`Self::put_relationship`].
    pub fn put_relationship_as(
        &mut self,
        req: &Requester,
        r: Relationship,
    ) -> Result<Vec<DirectoryChange>, Error> {
        self.known_to(req, &r.to)?;
        self.put_relationship(r)
    }

    /// `Ok` when `id` exists and `req` may see it by exact id; otherwise the error an id that does not
    /// exist gets, so that no answer tells a hidden participant from a missing one.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`].
    pub fn known_to(&self, req: &Requester, id: &ParticipantId) -> Result<&Participant, Error> {
        self.participants
            .get(id)
            .filter(|p| self.decide(p, req, How::ExactId).visible)
            .ok_or_else(|| Error::UnknownParticipant(id.to_string()))
    }

    /// Remove the relationship `from → to`.
    pub fn remove_relationship(
        &mut self,
        from: &ParticipantId,
        to: &ParticipantId,
    ) -> Vec<DirectoryChange> {
        self.graph.remove(from, to);
        vec![DirectoryChange::RemoveRelationship(
            from.clone(),
            to.clone(),
        )]
    }

    /// Add or replace a topic subscription (topics are lower-cased).
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`], or an empty topic ([`Error::Invalid`]).
    pub fn put_topic(&mut self, mut t: TopicSubscription) -> Result<Vec<DirectoryChange>, Error> {
        if !self.participants.contains_key(&t.participant) {
            return Err(Error::UnknownParticipant(t.participant.to_string()));
        }
        crate::limits::topic(&t)?;
        t.topic = t.topic.trim().to_lowercase();
        if t.topic.is_empty() {
            return Err(Error::Invalid("empty topic".into()));
        }
        let followed = self.topics_of.get(&t.participant).map_or(0, Vec::len);
        let known = self
            .topics_of
            .get(&t.participant)
            .is_some_and(|l| l.contains(&t.topic));
        if !known && followed >= crate::limits::TOPICS {
            return Err(Error::Invalid(format!(
                "topics: at most {} per participant",
                crate::limits::TOPICS
            )));
        }
        self.insert_topic(t.clone());
        Ok(vec![DirectoryChange::PutTopic(t)])
    }

    fn insert_topic(&mut self, t: TopicSubscription) {
        let mine = self.topics_of.entry(t.participant.clone()).or_default();
        if !mine.contains(&t.topic) {
            mine.push(t.topic.clone());
        }
        let participant = t.participant.clone();
        self.topics
            .entry(t.topic.clone())
            .or_default()
            .insert(participant.clone(), t);
        if let Some(p) = self.participants.get(&participant) {
            let doc = self.doc(p);
            self.index.upsert(&doc);
        }
    }

    /// Add or replace a rating (both ends must exist; score capped at 100).
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`].
    pub fn put_rating(&mut self, mut r: TrustRating) -> Result<Vec<DirectoryChange>, Error> {
        for id in [&r.rater, &r.ratee] {
            if !self.participants.contains_key(id) {
                return Err(Error::UnknownParticipant(id.to_string()));
            }
        }
        r.score = r.score.min(100);
        self.ratings.put(&r);
        Ok(vec![DirectoryChange::PutRating(r)])
    }

    /// [`Self::put_rating`] by `req` (the caller checked that `req` is the rater): the ratee must be someone
    /// `req` may see by exact id, else the answer is the one for an id that does not exist.
    ///
    /// # Errors
    /// As [`Self::put_rating`].
    pub fn put_rating_as(
        &mut self,
        req: &Requester,
        r: TrustRating,
    ) -> Result<Vec<DirectoryChange>, Error> {
        self.known_to(req, &r.ratee)?;
        self.put_rating(r)
    }

    /// Degrees of separation within `max_hops`.
    pub fn proximity(&self, a: &ParticipantId, b: &ParticipantId, max_hops: u8) -> Option<u8> {
        self.graph.proximity(a, b, max_hops)
    }

    /// Trust of `ratee` as seen by `asker`, 0–100.
    pub fn trust(&self, asker: Option<&ParticipantId>, ratee: &ParticipantId) -> u8 {
        let v = self
            .participants
            .get(ratee)
            .map(|p| p.verification)
            .unwrap_or_default();
        trust(&self.graph, &self.ratings, asker, ratee, v)
    }

    /// The requester's neighbourhood within the proximity horizon (empty for anonymous requesters).
    fn ball(&self, req: &Requester) -> HashMap<&ParticipantId, u8> {
        req.id
            .as_ref()
            .map(|r| self.graph.ball(r, weights::HOPS))
            .unwrap_or_default()
    }

    /// The requester as the directory knows them: an authenticated id with a profile gets its organization;
    /// an unknown or missing id is anonymous in all but name.
    pub fn requester(&self, id: Option<&ParticipantId>) -> Requester {
        match id {
            Some(id) => self.participants.get(id).map_or_else(
                || Requester {
                    id: Some(id.clone()),
                    ..Requester::default()
                },
                Requester::from_profile,
            ),
            None => Requester::anonymous(),
        }
    }

    fn ties(&self, target: &ParticipantId, req: &Requester) -> Ties {
        Ties {
            related: req
                .id
                .as_ref()
                .is_some_and(|r| self.graph.related(target, r)),
        }
    }

    /// The privacy decision for `req` about `target`, found by `how`.
    pub fn decide(&self, target: &Participant, req: &Requester, how: How) -> privacy::Decision {
        let ties = self.ties(&target.id, req);
        let d = privacy::decide(target, req, ties, how, 0);
        // The requester's trust as the participant sees it (anonymous requesters have none); only a
        // minimum trust reads it, so it is worked out only then, and only for a visible participant (a
        // hidden one costs what a missing one does).
        match &req.id {
            Some(r) if d.visible && target.permissions.min_trust > 0 => {
                let t = self.trust(Some(&target.id), r);
                privacy::decide(target, req, ties, how, t)
            }
            _ => d,
        }
    }

    /// What `req` may see of `id` when looking it up by exact id (`None`: not visible, indistinguishable
    /// from not existing), and the audit entry of the view.
    pub fn view(
        &self,
        req: &Requester,
        id: &ParticipantId,
        now_ms: u64,
    ) -> (Option<ParticipantView>, Vec<DirectoryChange>) {
        let Some(p) = self.participants.get(id) else {
            return (
                None,
                vec![missing(req, id, AuditAction::ProfileView, now_ms)],
            );
        };
        let d = self.decide(p, req, How::ExactId);
        let decision = if d.visible {
            format!("shown at {}", level_name(d.level))
        } else {
            "hidden".to_owned()
        };
        let audit = audit(req, id, AuditAction::ProfileView, decision, now_ms);
        let view = d
            .visible
            .then(|| project(p, d.level, self.topics_of.get(id)));
        (view, vec![audit])
    }

    /// Whether `req` may contact `id` (`None` when `id` is not visible to them), and the audit entry of the
    /// decision.
    pub fn contact_permission(
        &self,
        req: &Requester,
        id: &ParticipantId,
        now_ms: u64,
    ) -> (Option<Permission>, Vec<DirectoryChange>) {
        let Some(p) = self.participants.get(id) else {
            return (
                None,
                vec![missing(req, id, AuditAction::PermissionDecision, now_ms)],
            );
        };
        let d = self.decide(p, req, How::ExactId);
        let permission = d.visible.then_some(d.contact);
        let decision = permission
            .as_ref()
            .map_or_else(|| "hidden".to_owned(), permission_text);
        let audit = audit(req, id, AuditAction::PermissionDecision, decision, now_ms);
        (permission, vec![audit])
    }

    /// Everything about `id`, for a data-export request made by `actor` (the caller checks that the actor
    /// may export it: the participant themself or an operator); the audit log's entries about them come from
    /// the store ([`crate::DirectoryStore::audit_of`]) and go in [`Export::audit`].
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`].
    pub fn export(
        &self,
        actor: Option<&ParticipantId>,
        id: &ParticipantId,
        now_ms: u64,
    ) -> Result<(Export, Vec<DirectoryChange>), Error> {
        let Some(p) = self.participants.get(id) else {
            return Err(Error::UnknownParticipant(id.to_string()));
        };
        let mut relationships = self.graph.relationships_of(id);
        relationships.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
        let mut topics: Vec<TopicSubscription> = self
            .topics_of
            .get(id)
            .into_iter()
            .flatten()
            .filter_map(|t| self.topics.get(t).and_then(|l| l.get(id)).cloned())
            .collect();
        topics.sort_by(|a, b| a.topic.cmp(&b.topic));
        let key = |r: &TrustRating| (r.rater.clone(), r.ratee.clone(), r.category);
        let mut ratings_received = self.ratings.of(id);
        ratings_received.sort_by_key(key);
        let mut ratings_given = self.ratings.by(id);
        ratings_given.sort_by_key(key);
        let export = Export {
            participant: p.clone(),
            relationships,
            topics,
            ratings_received,
            ratings_given,
            priority: self.priorities.get(id).cloned(),
            audit: Vec::new(),
        };
        let entry = AuditEntry {
            at_ms: now_ms,
            actor: AuditParty::actor(actor),
            subject: AuditParty::Participant(id.clone()),
            action: AuditAction::Export,
            decision: "exported".into(),
        };
        Ok((export, vec![DirectoryChange::Audit(entry)]))
    }

    /// Erase `id` at `actor`'s request (the caller authorizes it): their profile, relationships both ways,
    /// topics, priority settings, search entries, and ratings they gave or received. The store drops the
    /// audit entries about them and replaces their id in entries they made by a tombstone; one erasure entry
    /// (tombstone subject) remains.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`].
    pub fn erase(
        &mut self,
        actor: Option<&ParticipantId>,
        id: &ParticipantId,
        now_ms: u64,
    ) -> Result<Vec<DirectoryChange>, Error> {
        let Some(p) = self.participants.remove(id) else {
            return Err(Error::UnknownParticipant(id.to_string()));
        };
        self.unlist_org(&p);
        self.index.remove(id);
        self.graph.remove_all(id);
        self.ratings.erase(id);
        for t in self.topics_of.remove(id).unwrap_or_default() {
            if let Some(list) = self.topics.get_mut(&t) {
                list.remove(id);
                if list.is_empty() {
                    self.topics.remove(&t);
                }
            }
        }
        self.priorities.remove(id);
        self.last_routed.remove(id);
        for n in self.contacts_of.remove(id).unwrap_or_default() {
            if let Some(c) = self.contacts.remove(&n) {
                let other = if &c.from == id { &c.to } else { &c.from };
                if let Some(list) = self.contacts_of.get_mut(other) {
                    list.retain(|x| *x != n);
                    if list.is_empty() {
                        self.contacts_of.remove(other);
                    }
                }
            }
        }
        let actor = match actor {
            Some(a) if a == id => AuditParty::tombstone(id),
            other => AuditParty::actor(other),
        };
        let entry = AuditEntry {
            at_ms: now_ms,
            actor,
            subject: AuditParty::tombstone(id),
            action: AuditAction::Erasure,
            decision: "erased".into(),
        };
        Ok(vec![
            DirectoryChange::EraseParticipant(id.clone()),
            DirectoryChange::Audit(entry),
        ])
    }

    /// Each hint given, with the field it is checked against (`None`: the id's domain or the entity type,
    /// which every profile level shows) and whether it matched `p`. A hint is checked only against fields a
    /// search may use, so it cannot confirm a field the participant did not open.
    fn hint_matches(&self, p: &Participant, h: &Hints) -> Vec<HintMatch> {
        let mut out = Vec::new();
        let s = |f| privacy::searchable(p, f);
        if let Some(o) = &h.organization {
            let ok = s(Field::Organization) && p.organization().is_some_and(|b| contains_ci(b, o));
            out.push((Some(Field::Organization), ok, "organization"));
        }
        if let Some(d) = &h.domain {
            let pd = p.id.domain();
            let ok = eq_ci(pd, d)
                || pd
                    .to_lowercase()
                    .ends_with(&format!(".{}", d.to_lowercase()));
            out.push((None, ok, "domain"));
        }
        if let Some(r) = &h.role {
            let ok = s(Field::Role) && p.role().is_some_and(|b| contains_ci(b, r));
            out.push((Some(Field::Role), ok, "role"));
        }
        if let Some(e) = h.entity {
            out.push((None, e == p.entity, "entity type"));
        }
        let primary = p.primary();
        if let Some(c) = &h.capability {
            let ok = s(Field::Capabilities)
                && primary.is_some_and(|i| i.capabilities.iter().any(|x| eq_ci(x, c)));
            out.push((Some(Field::Capabilities), ok, "capability"));
        }
        if let Some(l) = &h.language {
            let ok = s(Field::Languages)
                && primary.is_some_and(|i| i.languages.iter().any(|x| eq_ci(x, l)));
            out.push((Some(Field::Languages), ok, "language"));
        }
        out
    }

    /// Subscriptions to `topic` as an expert at `min` or above, of participants who made their topics
    /// searchable, by expertise (highest first), then least recently routed, then id.
    pub fn experts(&self, topic: &str, min: Expertise) -> Vec<&TopicSubscription> {
        let mut v: Vec<&TopicSubscription> = self
            .topics
            .get(&topic.trim().to_lowercase())
            .map(|l| {
                l.values()
                    .filter(|t| t.role == TopicRole::Expert && t.expertise >= min)
                    .filter(|t| {
                        self.participants
                            .get(&t.participant)
                            .is_some_and(|p| privacy::searchable(p, Field::Topics))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let routed = |id: &ParticipantId| self.last_routed.get(id).copied().unwrap_or(0);
        v.sort_by(|a, b| {
            b.expertise
                .cmp(&a.expertise)
                .then_with(|| routed(&a.participant).cmp(&routed(&b.participant)))
                .then_with(|| a.participant.cmp(&b.participant))
        });
        v
    }

    /// Experts `req` may see for `q`, available now (open and not busy or do-not-disturb; busy or away
    /// too for those whose subscription says so), in `q`'s organization and region, by expertise, then least
    /// recently routed first; with the audit entries of the discovery.
    pub fn find_experts(
        &self,
        req: &Requester,
        q: &ExpertQuery,
        presence: &dyn Fn(&Participant) -> Availability,
        now_ms: u64,
    ) -> (Vec<Candidate>, Vec<DirectoryChange>) {
        let limit = if q.limit == 0 { 10 } else { q.limit.min(100) };
        let ball = self.ball(req);
        let mut out = Vec::new();
        for t in self.experts(&q.topic, q.min) {
            if out.len() >= limit {
                break;
            }
            let Some(p) = self.participants.get(&t.participant) else {
                continue;
            };
            let d = self.decide(p, req, How::Search);
            if !d.visible {
                continue;
            }
            // The organization filter confirms an organization: only one the requester is shown.
            if let Some(org) = &q.organization
                && !(privacy::searchable(p, Field::Organization)
                    && Field::Organization.level() <= d.level
                    && p.organization().is_some_and(|o| eq_ci(o, org)))
            {
                continue;
            }
            if let Some(region) = &q.region
                && !p.region.as_deref().is_some_and(|r| eq_ci(r, region))
            {
                continue;
            }
            let availability = presence(p);
            let ok = match availability {
                Availability::Available => true,
                Availability::Busy | Availability::Away => t.when_busy,
                _ => false,
            };
            if !ok {
                continue;
            }
            let relevance = 0.5 + 0.1 * f64::from(t.expertise as u8);
            let why = vec![format!("{} on {}", expertise_name(t.expertise), t.topic)];
            out.push(self.candidate(
                &ball,
                p,
                req,
                d,
                relevance,
                why,
                1.0,
                Urgency::Normal,
                availability,
            ));
        }
        let changes = discovered(req, &out, now_ms);
        (out, changes)
    }

    /// The expert to route a request on `q` to: the first of [`Self::find_experts`] whom `req` may contact;
    /// they become the most recently routed, so the next request goes to their equal who waited longest.
    pub fn route_expert(
        &mut self,
        req: &Requester,
        q: &ExpertQuery,
        presence: &dyn Fn(&Participant) -> Availability,
        now_ms: u64,
    ) -> (Option<Candidate>, Vec<DirectoryChange>) {
        let all = ExpertQuery {
            limit: 100,
            ..q.clone()
        };
        let (list, _) = self.find_experts(req, &all, presence, now_ms);
        let chosen = list
            .into_iter()
            .find(|c| c.permission == Permission::Allowed);
        let changes = chosen.as_ref().map_or_else(Vec::new, |c| {
            discovered(req, std::slice::from_ref(c), now_ms)
        });
        if let Some(c) = &chosen {
            // Strictly later than anyone routed before, even within one millisecond.
            let last = self.last_routed.values().copied().max().unwrap_or(0);
            if let Ok(id) = ParticipantId::parse(&c.participant.id) {
                self.last_routed.insert(id, now_ms.max(last + 1));
            }
        }
        (chosen, changes)
    }

    /// One candidate for `req`, whom the privacy rules let see `p` with decision `d`. `ball`: the
    /// requester's neighbourhood ([`Graph::ball`]), shared by the candidates of one query.
    #[allow(clippy::too_many_arguments)]
    fn candidate(
        &self,
        ball: &HashMap<&ParticipantId, u8>,
        p: &Participant,
        req: &Requester,
        d: privacy::Decision,
        relevance: f64,
        why: Vec<String>,
        hints: f64,
        urgency: Urgency,
        availability: Availability,
    ) -> Candidate {
        let id = &p.id;
        let dist = |x: &ParticipantId| match &req.id {
            Some(r) if r == x => Some(0),
            Some(_) => ball.get(x).copied(),
            None => None,
        };
        let trust = trust_with(&self.ratings, req.id.as_ref(), &dist, id, p.verification);
        let proximity = dist(id);
        let (wr, wa) = match urgency {
            Urgency::Normal => (ranking::RELEVANCE, ranking::AVAILABILITY),
            Urgency::Urgent => (
                ranking::RELEVANCE - ranking::AVAILABILITY,
                2.0 * ranking::AVAILABILITY,
            ),
        };
        let score = wr * relevance
            + ranking::HINTS * hints
            + ranking::TRUST * f64::from(trust) / 100.0
            + ranking::PROXIMITY * proximity_score(proximity)
            + wa * availability.score();
        let view = project(p, d.level, self.topics_of.get(id));
        let reach = if d.contact == Permission::Allowed {
            let mut r = Vec::new();
            if let Some(a) = &view.sip_aor {
                r.push(Reach {
                    method: "sip".into(),
                    address: a.clone(),
                });
            }
            if let Some(e) = &view.email {
                r.push(Reach {
                    method: "email".into(),
                    address: e.clone(),
                });
            }
            r
        } else {
            Vec::new()
        };
        Candidate {
            participant: view,
            why,
            relevance,
            trust,
            proximity,
            availability,
            reach,
            permission: d.contact,
            score,
        }
    }

    /// Resolve `q` for `requester`: exact id, typo-tolerant search with hints, topic experts, organization
    /// members by role; then the privacy filter, trust and proximity, availability (`presence` maps a
    /// participant to it) and ranking. Every candidate passed [`privacy::decide`] and is cut with its level.
    /// The changes are the audit entries of every participant returned.
    pub fn resolve(
        &self,
        requester: &Requester,
        q: &Query,
        presence: &dyn Fn(&Participant) -> Availability,
        now_ms: u64,
    ) -> (Resolution, Vec<DirectoryChange>) {
        let g = self.gather(requester, q);
        self.finish(requester, g, presence, now_ms)
    }

    /// The first half of [`Self::resolve`]: every candidate, ranked as if availability were unknown. A
    /// caller whose presence lookups are asynchronous fetches the availability of [`Gathered::ids`] and
    /// then calls [`Self::finish`].
    ///
    /// A candidate is found, and explained, only through what the requester may be shown of them: a text
    /// match counts through fields at or below the requester's profile level (a match through a field above
    /// it is neither reported nor enough to appear), a hint counts only against such a field, and strong
    /// hints (which reveal an unlisted participant) need the organization and role to be shown.
    pub fn gather(&self, requester: &Requester, q: &Query) -> Gathered {
        let limit = if q.limit == 0 { 10 } else { q.limit.min(100) };
        let mut found: HashMap<ParticipantId, Found> = HashMap::new();
        if let Some(id) = &q.exact_id
            && self.participants.contains_key(id)
        {
            let how = if q.referral {
                How::Referral
            } else {
                How::ExactId
            };
            let f = found.entry(id.clone()).or_insert_with(|| Found::new(how));
            f.other = 1.0;
            f.reasons.push("exact id".into());
        }
        let named = !q.text.trim().is_empty();
        if named {
            for hit in self.index.search(&q.text, limit * 5) {
                let f = found
                    .entry(hit.id)
                    .or_insert_with(|| Found::new(How::Search));
                f.text = hit.score.min(1.0);
                f.matched = hit.matched;
            }
        }
        if let Some(topic) = &q.topic {
            for t in self
                .experts(topic, Expertise::Beginner)
                .into_iter()
                .take(limit * 5)
            {
                // With a name, the topic narrows among the people so named: an expert whose name does not
                // match ranks below every name match (docs/directory.md, Ranking).
                let level = f64::from(t.expertise as u8);
                let rel = if named {
                    0.3 + 0.05 * level
                } else {
                    0.5 + 0.1 * level
                };
                let f = found
                    .entry(t.participant.clone())
                    .or_insert_with(|| Found::new(How::Search));
                f.other = f.other.max(rel.min(1.0));
                f.expert = true;
                f.reasons.push(format!("expert on {}", t.topic));
            }
        }
        if !named && let (Some(org), Some(role)) = (&q.hints.organization, &q.hints.role) {
            let org = org.to_lowercase();
            let members = self
                .by_org
                .iter()
                .filter(|(o, _)| o.contains(&org))
                .flat_map(|(_, m)| m.iter());
            for id in members {
                let Some(p) = self.participants.get(id) else {
                    continue;
                };
                if privacy::searchable(p, Field::Organization)
                    && privacy::searchable(p, Field::Role)
                    && p.role().is_some_and(|r| contains_ci(r, role))
                {
                    let f = found
                        .entry(p.id.clone())
                        .or_insert_with(|| Found::new(How::Search));
                    f.member = true;
                }
            }
        }
        let ball = self.ball(requester);
        let mut kept = Vec::new();
        for (id, f) in found {
            let Some(p) = self.participants.get(&id) else {
                continue;
            };
            let hints = self.hint_matches(p, &q.hints);
            let holds = |field: Field| hints.iter().any(|(h, ok, _)| *h == Some(field) && *ok);
            // Strong hints: the name matched and organization and role hints both hold.
            let strong = f.how == How::Search
                && f.text >= 0.5
                && holds(Field::Organization)
                && holds(Field::Role);
            let mut d = self.decide(p, requester, if strong { How::StrongHints } else { f.how });
            if strong && (!d.visible || d.level < Field::Role.level()) {
                // Strong hints would confirm an organization and role the requester is not shown.
                d = self.decide(p, requester, How::Search);
            }
            if !d.visible {
                continue;
            }
            let shown = |field: Field| field.level() <= d.level;
            let matched: Vec<Field> = f.matched.iter().copied().filter(|m| shown(*m)).collect();
            let member = f.member && shown(Field::Organization) && shown(Field::Role);
            if f.reasons.is_empty() && matched.is_empty() && !member {
                // Found only through fields above the requester's level: not found.
                continue;
            }
            // A text match through a field above the level does not count.
            let text = if matched.is_empty() { 0.0 } else { f.text };
            let relevance = text.max(f.other).max(if member { 0.6 } else { 0.0 });
            let mut why = f.reasons;
            why.extend(
                matched
                    .iter()
                    .map(|m| format!("{} matched", field_name(*m))),
            );
            if member {
                why.push("member by role".into());
            }
            let mut given = 0usize;
            let mut hit = 0usize;
            for (field, ok, what) in &hints {
                given += 1;
                if *ok && field.is_none_or(&shown) {
                    hit += 1;
                    why.push(format!("{what} hint matched"));
                }
            }
            if named && f.expert && q.topic.is_some() {
                // The topic of a named query is a hint, shown only with the topics.
                given += 1;
                if shown(Field::Topics) {
                    hit += 1;
                }
            }
            let hints = if given == 0 {
                1.0
            } else {
                hit as f64 / given as f64
            };
            kept.push((id, relevance, why, hints, d));
        }
        // Relevance enters the score relative to the query's best match, sharpened, so near-namesakes do
        // not overtake an exact match on availability or trust alone (docs/directory.md, Ranking).
        let best = kept.iter().map(|k| k.1).fold(0.0_f64, f64::max);
        let mut out = Vec::new();
        for (id, relevance, why, hints, d) in kept {
            let Some(p) = self.participants.get(&id) else {
                continue;
            };
            let ranked = if best > 0.0 {
                (relevance / best).powi(ranking::SHARPEN)
            } else {
                0.0
            };
            let mut c = self.candidate(
                &ball,
                p,
                requester,
                d,
                ranked,
                why,
                hints,
                q.urgency,
                Availability::Unknown,
            );
            c.relevance = relevance;
            out.push((id, c));
        }
        Gathered {
            candidates: out,
            urgency: q.urgency,
            limit,
        }
    }

    /// The second half of [`Self::resolve`]: availability (`presence`) into the scores, the ranking, the
    /// answer and its audit entries. Candidates erased since [`Self::gather`] are left out.
    pub fn finish(
        &self,
        requester: &Requester,
        g: Gathered,
        presence: &dyn Fn(&Participant) -> Availability,
        now_ms: u64,
    ) -> (Resolution, Vec<DirectoryChange>) {
        let wa = match g.urgency {
            Urgency::Normal => ranking::AVAILABILITY,
            Urgency::Urgent => 2.0 * ranking::AVAILABILITY,
        };
        let limit = g.limit;
        let mut out: Vec<Candidate> = g
            .candidates
            .into_iter()
            .filter_map(|(id, mut c)| {
                let p = self.participants.get(&id)?;
                let a = presence(p);
                // The score is linear in availability: replace the unknown's share by the real one.
                c.score += wa * (a.score() - c.availability.score());
                c.availability = a;
                Some(c)
            })
            .collect();
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.participant.id.cmp(&b.participant.id))
        });
        out.truncate(limit);
        let changes = discovered(requester, &out, now_ms);
        let clear = match out.as_slice() {
            [only] => only.score >= ranking::RESOLVE_MIN,
            [a, b, ..] => {
                a.score >= ranking::RESOLVE_MIN && a.score - b.score >= ranking::RESOLVE_GAP
            }
            [] => false,
        };
        let resolution = if clear {
            Resolution::Resolved(Box::new(out.swap_remove(0)))
        } else {
            Resolution::Suggestions(out)
        };
        (resolution, changes)
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
