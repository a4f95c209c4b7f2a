//! Federation between directory servers: the protocol types and rules, sans-IO. The server crate signs and
//! sends these (HTTP Message Signatures, RFC 9421) and answers them at `POST /v1/federation/lookup`.
//!
//! A peer server vouches for its requester; how far the answering server believes it is the peer's
//! [`PeerTrust`], set by the answering server's operator:
//!
//! | trust | requester id | organization, department, team | sees | search |
//! |---|---|---|---|---|
//! | trusted | believed (if in the peer's domains) | believed | what the participant's rules give | yes |
//! | verified | believed (if in the peer's domains) | not believed | what the participant's rules give | yes |
//! | provisional | not believed | not believed | what an anonymous requester sees | yes |
//! | restricted | not believed | not believed | at most the minimal profile | exact id only |
//! | blocked | — | — | nothing (refused) | — |
//!
//! "Believed" means relationships, grants (auto-accept) and organization access levels may admit the
//! requester. Claims that are not believed still count against them: block lists apply to the claimed id,
//! its domain, the claimed organization and every domain of the peer, whatever the trust level
//! ([`crate::privacy::blocked`]). A requester id outside the domains the peer answers for is never
//! believed, so a peer cannot speak for this server's own participants.

use serde::{Deserialize, Serialize};

use crate::directory::{Candidate, Hints, Query, Resolution, Urgency, ranking};
use crate::error::Error;
use crate::model::{ParticipantId, ProfileLevel};
use crate::privacy::{Remote, Requester};

/// The most candidates one peer returns for one lookup.
pub const MAX_CANDIDATES: usize = 50;

/// How far this server trusts a peer server (its operator's choice, per peer).
#[derive(
    Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PeerTrust {
    /// Gets nothing; is never asked.
    Blocked,
    /// Exact-id lookups only, minimal profiles.
    Restricted,
    /// Anonymous-level answers.
    #[default]
    Provisional,
    /// Its requesters' ids are believed.
    Verified,
    /// Its requesters' ids and organizations are believed.
    Trusted,
}

impl PeerTrust {
    /// Whether discoveries here fan out to a peer at this level (provisional or higher).
    pub fn asked(self) -> bool {
        self >= Self::Provisional
    }

    /// The level's name, as in configuration.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Blocked => "blocked",
            Self::Restricted => "restricted",
            Self::Provisional => "provisional",
            Self::Verified => "verified",
            Self::Trusted => "trusted",
        }
    }
}

impl std::str::FromStr for PeerTrust {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "blocked" => Self::Blocked,
            "restricted" => Self::Restricted,
            "provisional" => Self::Provisional,
            "verified" => Self::Verified,
            "trusted" => Self::Trusted,
            other => {
                return Err(Error::Invalid(format!(
                    "trust level {other:?}: trusted, verified, provisional, restricted or blocked"
                )));
            }
        })
    }
}

/// `POST /v1/federation/lookup`: a peer asks on behalf of one of its requesters.
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LookupRequest {
    /// The requester at the asking server (its participant id), if any.
    pub requester: Option<String>,
    /// Their organization, as the asking server knows it.
    pub organization: Option<String>,
    /// Their department.
    pub department: Option<String>,
    /// Their team.
    pub team: Option<String>,
    /// The name or free text.
    pub text: String,
    /// An exact participant id (an email-style address resolved through this server's domain).
    pub exact_id: Option<String>,
    /// Hints.
    pub hints: Hints,
    /// A topic.
    pub topic: Option<String>,
    /// Urgent.
    pub urgent: bool,
    /// Most candidates wanted (0: 10; at most [`MAX_CANDIDATES`]).
    pub limit: usize,
}

/// The longest free text a lookup may carry.
pub const MAX_TEXT: usize = crate::limits::QUERY_TEXT;

impl LookupRequest {
    /// The lookup of a local query on behalf of `requester`.
    pub fn from_query(requester: &Requester, q: &Query) -> Self {
        Self {
            requester: requester.id.as_ref().map(ToString::to_string),
            organization: requester.organization.clone(),
            department: requester.department.clone(),
            team: requester.team.clone(),
            text: q.text.clone(),
            exact_id: q.exact_id.as_ref().map(ToString::to_string),
            hints: q.hints.clone(),
            topic: q.topic.clone(),
            urgent: q.urgency == Urgency::Urgent,
            limit: q.limit,
        }
    }

    /// The query this lookup asks (a referral is never taken from a peer).
    ///
    /// # Errors
    /// [`Error::Invalid`] / [`Error::InvalidId`]: text too long, or an exact id that is not one.
    pub fn query(&self) -> Result<Query, Error> {
        if self.text.len() > MAX_TEXT {
            return Err(Error::Invalid(format!("text: at most {MAX_TEXT} bytes")));
        }
        let limit = match self.limit {
            0 => 10,
            n => n.min(MAX_CANDIDATES),
        };
        let q = Query {
            text: self.text.clone(),
            exact_id: self
                .exact_id
                .as_deref()
                .map(ParticipantId::parse)
                .transpose()?,
            referral: false,
            hints: self.hints.clone(),
            topic: self.topic.clone(),
            urgency: if self.urgent {
                Urgency::Urgent
            } else {
                Urgency::Normal
            },
            limit,
        };
        crate::limits::query(&q)?;
        Ok(q)
    }
}

/// The answer to a lookup.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LookupResponse {
    /// The answering server's id.
    pub server: String,
    /// Candidates, best first, at most [`MAX_CANDIDATES`], each cut by the answering server's rules.
    pub candidates: Vec<Candidate>,
}

/// The peer that asks, as the answering server's configuration describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AskingPeer<'a> {
    /// Its id.
    pub id: &'a str,
    /// The domains it answers for.
    pub domains: &'a [String],
    /// Its trust level here.
    pub trust: PeerTrust,
}

fn in_domains(id: &ParticipantId, domains: &[String]) -> bool {
    domains.iter().any(|d| d.eq_ignore_ascii_case(id.domain()))
}

/// The requester this server evaluates its participants' rules for when `peer` asks `req` (see the module
/// documentation for the table); `None` for a blocked peer.
pub fn remote_requester(peer: &AskingPeer<'_>, req: &LookupRequest) -> Option<Requester> {
    let claimed_id = req
        .requester
        .as_deref()
        .and_then(|s| ParticipantId::parse(s).ok());
    let believed_id = claimed_id.clone().filter(|id| in_domains(id, peer.domains));
    let (id, org, cap, exact_only) = match peer.trust {
        PeerTrust::Blocked => return None,
        PeerTrust::Trusted => (believed_id, true, ProfileLevel::Full, false),
        PeerTrust::Verified => (believed_id, false, ProfileLevel::Full, false),
        PeerTrust::Provisional => (None, false, ProfileLevel::Full, false),
        PeerTrust::Restricted => (None, false, ProfileLevel::Minimal, true),
    };
    Some(Requester {
        id,
        organization: org.then(|| req.organization.clone()).flatten(),
        department: org.then(|| req.department.clone()).flatten(),
        team: org.then(|| req.team.clone()).flatten(),
        remote: Some(Box::new(Remote {
            server: peer.id.to_owned(),
            domains: peer.domains.to_vec(),
            claimed_id,
            claimed_organization: req.organization.clone(),
            cap,
            exact_only,
        })),
    })
}

/// A candidate and where it came from.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sourced {
    /// The server that answered for them: `None` for this one, else the peer's id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub server: Option<String>,
    /// The candidate, as that server cut it.
    #[serde(flatten)]
    pub candidate: Candidate,
}

/// A peer that did not answer a fanned-out discovery.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct PeerFailure {
    /// The peer's id.
    pub peer: String,
    /// Why (`timeout`, `circuit open`, `refused: 403`, …).
    pub reason: String,
}

/// A discovery answered here and by peers.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Merged {
    /// `resolved` (one candidate clearly ahead) or `suggestions`.
    pub outcome: String,
    /// Candidates, best first.
    pub candidates: Vec<Sourced>,
    /// The peers asked that did not answer.
    pub failed_peers: Vec<PeerFailure>,
}

/// Merge this server's answer with the peers' (`(peer id, its candidates)`): deduplicated by participant id
/// (the higher score wins), ranked by score (each server scores relative to its own best match, so scores
/// compare), cut to `limit` (0: 10) and resolved by the same rule as a local query ([`ranking`]).
pub fn merge(
    local: Resolution,
    remote: Vec<(String, Vec<Candidate>)>,
    failed: Vec<PeerFailure>,
    limit: usize,
) -> Merged {
    let limit = if limit == 0 { 10 } else { limit.min(100) };
    let mut all: Vec<Sourced> = match local {
        Resolution::Resolved(c) => vec![Sourced {
            server: None,
            candidate: *c,
        }],
        Resolution::Suggestions(v) => v
            .into_iter()
            .map(|candidate| Sourced {
                server: None,
                candidate,
            })
            .collect(),
    };
    for (peer, cands) in remote {
        all.extend(cands.into_iter().take(MAX_CANDIDATES).map(|mut c| {
            // A peer's numbers are its own claims: keep them in range.
            c.score = if c.score.is_finite() {
                c.score.clamp(0.0, 1.0)
            } else {
                0.0
            };
            c.relevance = if c.relevance.is_finite() {
                c.relevance.clamp(0.0, 1.0)
            } else {
                0.0
            };
            Sourced {
                server: Some(peer.clone()),
                candidate: c,
            }
        }));
    }
    all.sort_by(|a, b| {
        b.candidate
            .score
            .total_cmp(&a.candidate.score)
            .then_with(|| a.candidate.participant.id.cmp(&b.candidate.participant.id))
            .then_with(|| a.server.cmp(&b.server))
    });
    let mut seen = std::collections::HashSet::new();
    all.retain(|s| seen.insert(s.candidate.participant.id.to_ascii_lowercase()));
    all.truncate(limit);
    let clear = match all.as_slice() {
        [only] => only.candidate.score >= ranking::RESOLVE_MIN,
        [a, b, ..] => {
            a.candidate.score >= ranking::RESOLVE_MIN
                && a.candidate.score - b.candidate.score >= ranking::RESOLVE_GAP
        }
        [] => false,
    };
    if clear {
        all.truncate(1);
    }
    Merged {
        outcome: if clear { "resolved" } else { "suggestions" }.into(),
        candidates: all,
        failed_peers: failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::{ParticipantView, Permission};

    fn peer(trust: PeerTrust) -> (String, Vec<String>, PeerTrust) {
        ("a.example".into(), vec!["a.example".into()], trust)
    }

    fn ask(trust: PeerTrust, requester: &str) -> Option<Requester> {
        let (id, domains, trust) = peer(trust);
        remote_requester(
            &AskingPeer {
                id: &id,
                domains: &domains,
                trust,
            },
            &LookupRequest {
                requester: Some(requester.into()),
                organization: Some("A Corp".into()),
                ..LookupRequest::default()
            },
        )
    }

    #[test]
    fn trust_levels_decide_what_is_believed() {
        assert!(ask(PeerTrust::Blocked, "x@a.example").is_none());
        let t = ask(PeerTrust::Trusted, "x@a.example").unwrap();
        assert_eq!(
            t.id.as_ref().map(ParticipantId::as_str),
            Some("x@a.example")
        );
        assert_eq!(t.organization.as_deref(), Some("A Corp"));
        let v = ask(PeerTrust::Verified, "x@a.example").unwrap();
        assert!(v.id.is_some() && v.organization.is_none());
        let p = ask(PeerTrust::Provisional, "x@a.example").unwrap();
        assert!(p.id.is_none() && p.organization.is_none());
        assert_eq!(p.audit_id().map(ParticipantId::as_str), Some("x@a.example"));
        let r = ask(PeerTrust::Restricted, "x@a.example").unwrap();
        let remote = r.remote.unwrap();
        assert!(remote.exact_only);
        assert_eq!(remote.cap, ProfileLevel::Minimal);
        // A requester outside the peer's domains is never believed, even from a trusted peer.
        let spoof = ask(PeerTrust::Trusted, "ceo@b.example").unwrap();
        assert!(spoof.id.is_none());
        assert_eq!(
            spoof.remote.unwrap().claimed_id.map(|i| i.to_string()),
            Some("ceo@b.example".to_owned())
        );
    }

    #[test]
    fn trust_levels_parse_and_order() {
        assert_eq!(
            "verified".parse::<PeerTrust>().unwrap(),
            PeerTrust::Verified
        );
        assert!("friendly".parse::<PeerTrust>().is_err());
        assert!(PeerTrust::Provisional.asked() && !PeerTrust::Restricted.asked());
        assert!(PeerTrust::Trusted > PeerTrust::Verified);
    }

    #[test]
    fn lookup_queries_are_bounded() {
        let mut l = LookupRequest {
            text: "x".repeat(MAX_TEXT + 1),
            ..LookupRequest::default()
        };
        assert!(l.query().is_err());
        l.text = "alice".into();
        l.limit = 10_000;
        assert_eq!(l.query().unwrap().limit, MAX_CANDIDATES);
        l.exact_id = Some("not an id".into());
        assert!(l.query().is_err());
    }

    fn cand(id: &str, score: f64) -> Candidate {
        Candidate {
            participant: ParticipantView {
                id: id.into(),
                ..ParticipantView::default()
            },
            why: Vec::new(),
            relevance: 1.0,
            trust: 0,
            proximity: None,
            availability: crate::Availability::Unknown,
            reach: Vec::new(),
            permission: Permission::Allowed,
            score,
        }
    }

    #[test]
    fn merge_ranks_deduplicates_and_resolves() {
        let m = merge(
            Resolution::Suggestions(vec![cand("a@here.example", 0.4)]),
            vec![
                (
                    "b".into(),
                    vec![cand("b@b.example", 0.45), cand("a@here.example", 0.3)],
                ),
                ("c".into(), vec![cand("c@c.example", f64::NAN)]),
            ],
            vec![PeerFailure {
                peer: "d".into(),
                reason: "timeout".into(),
            }],
            0,
        );
        let ids: Vec<_> = m
            .candidates
            .iter()
            .map(|s| (s.candidate.participant.id.as_str(), s.server.as_deref()))
            .collect();
        assert_eq!(
            ids,
            [
                ("b@b.example", Some("b")),
                ("a@here.example", None),
                ("c@c.example", Some("c"))
            ]
        );
        assert_eq!(m.outcome, "suggestions");
        assert_eq!(m.failed_peers.len(), 1);
        let r = merge(
            Resolution::Suggestions(vec![cand("a@here.example", 0.3)]),
            vec![("b".into(), vec![cand("b@b.example", 0.9)])],
            Vec::new(),
            5,
        );
        assert_eq!(r.outcome, "resolved");
        assert_eq!(r.candidates.len(), 1);
        assert_eq!(r.candidates[0].server.as_deref(), Some("b"));
    }
}
