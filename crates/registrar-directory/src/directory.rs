//! [`Directory`]: the participants, relationships, topics and ratings in memory, the search index, and
//! contact resolution. Sans-IO: every change returns the [`DirectoryChange`]s a [`DirectoryStore`] must
//! write, and availability comes in through [`Availability`] lookups the caller provides.
//!
//! [`DirectoryStore`]: crate::DirectoryStore

use std::collections::HashMap;

use serde::Serialize;

use crate::Error;
use crate::graph::{Graph, Ratings, proximity_score, trust, weights};
use crate::model::{
    EntityType, Expertise, Field, Participant, ParticipantId, Relationship, TopicRole,
    TopicSubscription, TrustRating,
};
use crate::privacy::{self, How, ParticipantView, Permission, Requester, Ties};
use crate::search::{IndexDoc, SearchIndex};

/// Live availability of a participant (from presence).
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize)]
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

/// Hints that narrow a query.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
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
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Reach {
    /// `sip` or `email`.
    pub method: &'static str,
    /// The address.
    pub address: String,
}

/// One ranked candidate.
#[derive(Clone, Debug, PartialEq, Serialize)]
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
    topics: HashMap<String, Vec<TopicSubscription>>,
    topics_of: HashMap<ParticipantId, Vec<String>>,
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
            index,
        }
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
                Field::Topics => self.topics_of.get(&p.id).map(|t| t.join(" ")),
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

    /// Add or replace a participant.
    pub fn put_participant(&mut self, p: Participant) -> Vec<DirectoryChange> {
        let doc = self.doc(&p);
        self.index.upsert(&doc);
        let change = DirectoryChange::PutParticipant(Box::new(p.clone()));
        self.participants.insert(p.id.clone(), p);
        vec![change]
    }

    /// Add or replace a relationship (both ends must exist).
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`].
    pub fn put_relationship(&mut self, r: Relationship) -> Result<Vec<DirectoryChange>, Error> {
        for id in [&r.from, &r.to] {
            if !self.participants.contains_key(id) {
                return Err(Error::UnknownParticipant(id.to_string()));
            }
        }
        self.graph.put(&r);
        Ok(vec![DirectoryChange::PutRelationship(r)])
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
        t.topic = t.topic.trim().to_lowercase();
        if t.topic.is_empty() {
            return Err(Error::Invalid("empty topic".into()));
        }
        let list = self.topics.entry(t.topic.clone()).or_default();
        list.retain(|x| x.participant != t.participant);
        list.push(t.clone());
        let mine = self.topics_of.entry(t.participant.clone()).or_default();
        if !mine.contains(&t.topic) {
            mine.push(t.topic.clone());
        }
        if let Some(p) = self.participants.get(&t.participant) {
            let doc = self.doc(p);
            self.index.upsert(&doc);
        }
        Ok(vec![DirectoryChange::PutTopic(t)])
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
        // The requester's trust as the participant sees it (anonymous requesters have none).
        let t = req
            .id
            .as_ref()
            .map_or(0, |r| self.trust(Some(&target.id), r));
        privacy::decide(target, req, ties, how, t)
    }

    /// What `req` may see of `id` when looking it up by exact id (`None`: not visible, indistinguishable
    /// from not existing).
    pub fn view(&self, req: &Requester, id: &ParticipantId) -> Option<ParticipantView> {
        let p = self.participants.get(id)?;
        let d = self.decide(p, req, How::ExactId);
        d.visible
            .then(|| project(p, d.level, self.topics_of.get(id)))
    }

    /// Hints that match `p`, checked only against fields a search may use (so a hint cannot confirm a field
    /// the participant did not open), and how many hints were given.
    fn hint_matches(&self, p: &Participant, h: &Hints) -> (usize, usize, Vec<String>) {
        let (mut given, mut hit, mut why) = (0, 0, Vec::new());
        let mut check = |given_hint: bool, ok: bool, what: &str| {
            if given_hint {
                given += 1;
                if ok {
                    hit += 1;
                    why.push(format!("{what} hint matched"));
                }
            }
        };
        let s = |f| privacy::searchable(p, f);
        check(
            h.organization.is_some(),
            s(Field::Organization)
                && h.organization
                    .as_deref()
                    .zip(p.organization())
                    .is_some_and(|(a, b)| contains_ci(b, a)),
            "organization",
        );
        check(
            h.domain.is_some(),
            h.domain.as_deref().is_some_and(|d| {
                let pd = p.id.domain();
                eq_ci(pd, d)
                    || pd
                        .to_lowercase()
                        .ends_with(&format!(".{}", d.to_lowercase()))
            }),
            "domain",
        );
        check(
            h.role.is_some(),
            s(Field::Role)
                && h.role
                    .as_deref()
                    .zip(p.role())
                    .is_some_and(|(a, b)| contains_ci(b, a)),
            "role",
        );
        check(
            h.entity.is_some(),
            h.entity == Some(p.entity),
            "entity type",
        );
        let primary = p.primary();
        check(
            h.capability.is_some(),
            s(Field::Capabilities)
                && h.capability.as_deref().is_some_and(|c| {
                    primary.is_some_and(|i| i.capabilities.iter().any(|x| eq_ci(x, c)))
                }),
            "capability",
        );
        check(
            h.language.is_some(),
            s(Field::Languages)
                && h.language.as_deref().is_some_and(|l| {
                    primary.is_some_and(|i| i.languages.iter().any(|x| eq_ci(x, l)))
                }),
            "language",
        );
        (given, hit, why)
    }

    /// Experts on `topic` at `min` or above (subscribed as experts), least recently routed first among
    /// equals is the caller's job; here: by expertise, then id.
    pub fn experts(&self, topic: &str, min: Expertise) -> Vec<&TopicSubscription> {
        let mut v: Vec<&TopicSubscription> = self
            .topics
            .get(&topic.trim().to_lowercase())
            .map(|l| {
                l.iter()
                    .filter(|t| t.role == TopicRole::Expert && t.expertise >= min)
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|a, b| {
            b.expertise
                .cmp(&a.expertise)
                .then_with(|| a.participant.cmp(&b.participant))
        });
        v
    }

    /// Resolve `q` for `requester`: exact id, typo-tolerant search with hints, topic experts, organization
    /// members by role; then the privacy filter, trust and proximity, availability (`presence` maps a
    /// participant to it) and ranking. Every candidate passed [`privacy::decide`] and is cut with its level.
    pub fn resolve(
        &self,
        requester: &Requester,
        q: &Query,
        presence: &dyn Fn(&Participant) -> Availability,
    ) -> Resolution {
        let limit = if q.limit == 0 { 10 } else { q.limit.min(100) };
        // id → (how, relevance, why)
        let mut found: HashMap<ParticipantId, (How, f64, Vec<String>)> = HashMap::new();
        if let Some(id) = &q.exact_id
            && self.participants.contains_key(id)
        {
            let how = if q.referral {
                How::Referral
            } else {
                How::ExactId
            };
            found.insert(id.clone(), (how, 1.0, vec!["exact id".into()]));
        }
        if !q.text.trim().is_empty() {
            for hit in self.index.search(&q.text, limit * 5) {
                let why = hit
                    .matched
                    .iter()
                    .map(|f| format!("{} matched", field_name(*f)))
                    .collect();
                found
                    .entry(hit.id)
                    .or_insert((How::Search, hit.score.min(1.0), why));
            }
        }
        if let Some(topic) = &q.topic {
            for t in self.experts(topic, Expertise::Beginner) {
                let rel = 0.5 + 0.1 * f64::from(t.expertise as u8);
                let e =
                    found
                        .entry(t.participant.clone())
                        .or_insert((How::Search, 0.0, Vec::new()));
                e.1 = e.1.max(rel.min(1.0));
                e.2.push(format!("expert on {}", t.topic));
            }
        }
        if q.text.trim().is_empty()
            && let (Some(org), Some(role)) = (&q.hints.organization, &q.hints.role)
        {
            for p in self.participants.values() {
                if privacy::searchable(p, Field::Organization)
                    && privacy::searchable(p, Field::Role)
                    && p.organization().is_some_and(|o| contains_ci(o, org))
                    && p.role().is_some_and(|r| contains_ci(r, role))
                {
                    found.entry(p.id.clone()).or_insert((
                        How::Search,
                        0.6,
                        vec!["member by role".into()],
                    ));
                }
            }
        }
        let mut out = Vec::new();
        for (id, (how, relevance, mut why)) in found {
            let Some(p) = self.participants.get(&id) else {
                continue;
            };
            let (given, hit, hint_why) = self.hint_matches(p, &q.hints);
            why.extend(hint_why);
            // Strong hints: the name matched and organization and role hints both hold.
            let how = if how == How::Search
                && relevance >= 0.5
                && q.hints.organization.is_some()
                && q.hints.role.is_some()
                && hit >= 2
            {
                How::StrongHints
            } else {
                how
            };
            let d = self.decide(p, requester, how);
            if !d.visible {
                continue;
            }
            let trust = self.trust(requester.id.as_ref(), &id);
            let proximity = requester
                .id
                .as_ref()
                .and_then(|r| self.graph.proximity(r, &id, weights::HOPS));
            let availability = presence(p);
            let hints = if given == 0 {
                1.0
            } else {
                hit as f64 / given as f64
            };
            let (wr, wa) = match q.urgency {
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
            let view = project(p, d.level, self.topics_of.get(&id));
            let reach = if d.contact == Permission::Allowed {
                let mut r = Vec::new();
                if let Some(a) = &view.sip_aor {
                    r.push(Reach {
                        method: "sip",
                        address: a.clone(),
                    });
                }
                if let Some(e) = &view.email {
                    r.push(Reach {
                        method: "email",
                        address: e.clone(),
                    });
                }
                r
            } else {
                Vec::new()
            };
            out.push(Candidate {
                participant: view,
                why,
                relevance,
                trust,
                proximity,
                availability,
                reach,
                permission: d.contact,
                score,
            });
        }
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.participant.id.cmp(&b.participant.id))
        });
        out.truncate(limit);
        let clear = match out.as_slice() {
            [only] => only.score >= ranking::RESOLVE_MIN,
            [a, b, ..] => {
                a.score >= ranking::RESOLVE_MIN && a.score - b.score >= ranking::RESOLVE_GAP
            }
            [] => false,
        };
        if clear {
            Resolution::Resolved(Box::new(out.swap_remove(0)))
        } else {
            Resolution::Suggestions(out)
        }
    }
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
