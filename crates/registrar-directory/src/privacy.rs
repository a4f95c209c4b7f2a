//! The privacy rules, in one place. Every path that returns a participant to a requester (exact id, search,
//! experts, organization members, export) asks [`decide`] whether the requester may see the participant at
//! all, how much of the profile ([`ProfileLevel`]) and whether they may make contact ([`Permission`]); and
//! builds what it returns with [`project`], which copies only the fields that level allows.
//!
//! The rules, in order (the first that applies wins):
//! 1. Blocked (the requester's id, the domain of the id, or the requester's organization is on the
//!    participant's block lists, or the requester's organization on the participant's organization's): never
//!    visible. Blocks win over everything, relationships and grants included.
//! 2. The participant themself: visible, full profile, contact allowed.
//! 3. Granted (the requester is on the participant's auto-accept list): visible whatever the
//!    discoverability, the `granted` audience's level, contact allowed.
//! 4. Stealth: invisible to everyone else.
//! 5. Related (the participant declared a relationship to the requester; a mutual relationship is one both
//!    declared, so what the requester declared alone grants nothing): visible, the `relationship`
//!    audience's level.
//! 6. Private: invisible to everyone else.
//! 7. The organization's access level (internal, department, team, confidential) must admit the requester.
//! 8. Unlisted: visible only when found by exact id, a referral or strong hints, never by search.
//! 9. Public: visible.
//!
//! Level: the highest of the audiences that apply (public; organization for the same organization;
//! relationship; granted). Contact, for a visible participant: anonymous requesters are denied; then, unless
//! related: a trust score below the participant's minimum is denied; contact from outside the organization
//! follows its cross-organization policy (partners pass; otherwise denied or needing approval); a required
//! introduction is asked for; a participant with no contact method cannot be contacted. A reason never
//! names a profile field (the organization included): a requester may be shown less than the reason would.

use serde::{Deserialize, Serialize};

use crate::model::AccessLevel;
use crate::model::{
    ApprovalLevel, ContactMethod, Discoverability, EntityType, Field, IdentityContext, Participant,
    ParticipantId, ProfileLevel,
};

/// Who asks. Built by the directory from the authenticated requester's own profile (never from what the
/// request claims).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Requester {
    /// The authenticated participant, or `None` for an anonymous request.
    pub id: Option<ParticipantId>,
    /// Their organization.
    pub organization: Option<String>,
    /// Their department.
    pub department: Option<String>,
    /// Their team.
    pub team: Option<String>,
    /// Set when the request comes from a federated peer server ([`crate::federation`]): what that server
    /// claimed and how far this server believes it.
    pub remote: Option<Box<Remote>>,
}

/// A requester that a peer server vouches for. `Requester::id` and the organization fields hold only what
/// the peer's trust level lets this server believe ([`crate::federation::remote_requester`]); the claims
/// themselves are kept here so block lists apply to them whatever the trust level.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Remote {
    /// The peer server's id.
    pub server: String,
    /// The domains the peer answers for (a participant who blocks one of them blocks the peer's users).
    pub domains: Vec<String>,
    /// The requester the peer named, believed or not.
    pub claimed_id: Option<ParticipantId>,
    /// The organization the peer named for them, believed or not.
    pub claimed_organization: Option<String>,
    /// The most of a profile this peer's requesters may see.
    pub cap: ProfileLevel,
    /// Only lookups by exact id (no search, expert or organization listings).
    pub exact_only: bool,
}

impl Requester {
    /// An anonymous requester.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// The requester as their profile describes them.
    pub fn from_profile(p: &Participant) -> Self {
        Self {
            id: Some(p.id.clone()),
            organization: p.organization().map(str::to_owned),
            department: p.department().map(str::to_owned),
            team: p.team().map(str::to_owned),
            remote: None,
        }
    }

    /// Who the audit log names as asking: the participant, or for a federated request the requester the
    /// peer named (believed or not), so "who looked me up" shows remote askers too.
    pub fn audit_id(&self) -> Option<&ParticipantId> {
        self.id
            .as_ref()
            .or_else(|| self.remote.as_ref().and_then(|r| r.claimed_id.as_ref()))
    }
}

/// How the requester came to the participant.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum How {
    /// By the participant's exact id.
    ExactId,
    /// Referred by someone who may see them.
    Referral,
    /// By hints that pin them down (organization and role and name together).
    StrongHints,
    /// By search, expert lists or organization listings.
    Search,
}

/// What connects the requester and the participant (the directory works it out from stored relationships).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Ties {
    /// The participant declared a relationship to the requester.
    pub related: bool,
}

/// Whether the requester may make contact.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Permission {
    /// Go ahead.
    Allowed,
    /// Someone who knows both must introduce the requester.
    RequiresIntroduction,
    /// Someone must approve first.
    RequiresApproval {
        /// Why, and who approves.
        reason: String,
    },
    /// No.
    Denied {
        /// Why.
        reason: String,
    },
}

/// The rules' answer for one requester and one participant.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Decision {
    /// Whether the participant may appear in the answer at all.
    pub visible: bool,
    /// How much of the profile (meaningless when not visible).
    pub level: ProfileLevel,
    /// Contact (meaningless when not visible).
    pub contact: Permission,
}

impl Decision {
    fn hidden() -> Self {
        Self {
            visible: false,
            level: ProfileLevel::Minimal,
            contact: Permission::Denied {
                reason: "not visible to the requester".into(),
            },
        }
    }
}

fn eq_ci(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Whether the requester is blocked by the participant or their organization.
pub fn blocked(target: &Participant, req: &Requester) -> bool {
    let perms = &target.permissions;
    if let Some(r) = &req.remote {
        // A peer's claims count against the requester even where they are not believed.
        let claimed = Requester {
            id: r.claimed_id.clone(),
            organization: r.claimed_organization.clone(),
            ..Requester::default()
        };
        if blocked(target, &claimed)
            || r.domains
                .iter()
                .any(|d| perms.blocked_domains.iter().any(|b| eq_ci(b, d)))
        {
            return true;
        }
    }
    if let Some(id) = &req.id {
        if perms.blocked_ids.contains(id) {
            return true;
        }
        if perms.blocked_domains.iter().any(|d| eq_ci(d, id.domain())) {
            return true;
        }
    }
    if let Some(org) = &req.organization {
        if perms.blocked_organizations.iter().any(|o| eq_ci(o, org)) {
            return true;
        }
        if let Some(o) = &target.org
            && o.cross_org.blocked.iter().any(|b| eq_ci(b, org))
        {
            return true;
        }
    }
    false
}

fn same(a: Option<&str>, b: Option<&str>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if eq_ci(a, b))
}

/// The decision for `req` about `target`, found by `how`, with `ties` between them and `trust` (0–100) the
/// requester's trust score as seen from the participant.
pub fn decide(target: &Participant, req: &Requester, ties: Ties, how: How, trust: u8) -> Decision {
    let perms = &target.permissions;
    if blocked(target, req) {
        return Decision::hidden();
    }
    if req.id.as_ref() == Some(&target.id) {
        return Decision {
            visible: true,
            level: ProfileLevel::Full,
            contact: Permission::Allowed,
        };
    }
    if let Some(r) = &req.remote
        && r.exact_only
        && matches!(how, How::Search | How::StrongHints)
    {
        return Decision::hidden();
    }
    let granted = req
        .id
        .as_ref()
        .is_some_and(|id| perms.auto_accept.contains(id));
    let same_org = same(req.organization.as_deref(), target.organization());
    let visible = if granted {
        true
    } else {
        match perms.discoverability {
            Discoverability::Stealth => false,
            _ if ties.related => true,
            Discoverability::Private => false,
            d => {
                let org_admits = match target
                    .org
                    .as_ref()
                    .map_or(AccessLevel::Public, |o| o.access)
                {
                    AccessLevel::Public => true,
                    AccessLevel::Internal => same_org,
                    AccessLevel::Department => {
                        same_org && same(req.department.as_deref(), target.department())
                    }
                    AccessLevel::Team => same_org && same(req.team.as_deref(), target.team()),
                    AccessLevel::Confidential => false,
                };
                org_admits && (d == Discoverability::Public || how != How::Search)
            }
        }
    };
    if !visible {
        return Decision::hidden();
    }
    let a = &perms.audiences;
    let mut level = a.public;
    if same_org {
        level = level.max(a.organization);
    }
    if ties.related {
        level = level.max(a.relationship);
    }
    if granted {
        level = level.max(a.granted);
    }
    if let Some(r) = &req.remote {
        level = level.min(r.cap);
    }
    let contact = contact(target, req, ties, granted, same_org, trust);
    Decision {
        visible: true,
        level,
        contact,
    }
}

fn contact(
    target: &Participant,
    req: &Requester,
    ties: Ties,
    granted: bool,
    same_org: bool,
    trust: u8,
) -> Permission {
    let perms = &target.permissions;
    if perms.contact_methods.is_empty() {
        return Permission::Denied {
            reason: "the participant lists no contact method".into(),
        };
    }
    if req.id.is_none()
        && let Some(r) = &req.remote
    {
        return Permission::Denied {
            reason: format!(
                "{} is not trusted to identify its users here; ask through a contact request",
                r.server
            ),
        };
    }
    if req.id.is_none() {
        return Permission::Denied {
            reason: "anonymous requesters cannot make contact; authenticate first".into(),
        };
    }
    if granted || ties.related {
        return Permission::Allowed;
    }
    if trust < perms.min_trust {
        return Permission::Denied {
            reason: format!(
                "trust score {trust} is below the participant's minimum of {}",
                perms.min_trust
            ),
        };
    }
    if let Some(o) = &target.org
        && !same_org
    {
        let partner = req
            .organization
            .as_deref()
            .is_some_and(|r| o.cross_org.partners.iter().any(|p| eq_ci(p, r)));
        if !partner {
            // The reasons never name the organization: a requester may be shown less than it.
            if !o.cross_org.allow_external_contact {
                return Permission::Denied {
                    reason: "the participant's organization does not accept contact from outside"
                        .into(),
                };
            }
            let who = match o.cross_org.approval {
                ApprovalLevel::None => None,
                ApprovalLevel::Participant => Some("the participant"),
                ApprovalLevel::Manager => Some("the participant's manager"),
                ApprovalLevel::Admin => Some("an administrator"),
            };
            if let Some(who) = who {
                return Permission::RequiresApproval {
                    reason: format!(
                        "contact from outside the participant's organization must be approved by {who}"
                    ),
                };
            }
        }
    }
    if perms.require_introduction {
        return Permission::RequiresIntroduction;
    }
    Permission::Allowed
}

/// Whether a search may match `field` of `target` (the participant lists it as searchable).
pub fn searchable(target: &Participant, field: Field) -> bool {
    target.permissions.searchable.contains(&field)
}

/// What a requester is shown of a participant: only the fields the level allows.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ParticipantView {
    /// Id.
    pub id: String,
    /// Entity type.
    pub entity: Option<EntityType>,
    /// The level this view was cut at.
    pub level: ProfileLevel,
    /// Display name.
    pub name: String,
    /// Organization (basic and above).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Role (basic and above).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Department (standard and above).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Capabilities (standard and above).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// Languages (standard and above).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    /// Topics (standard and above).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    /// Email (detailed and above, when email is a contact method).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// SIP AoR (detailed and above, when SIP is a contact method).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sip_aor: Option<String>,
    /// Every identity context (full only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<IdentityContext>,
}

impl ParticipantView {
    /// The fields this view carries (for checks).
    pub fn fields(&self) -> Vec<Field> {
        let mut f = vec![Field::Name];
        let mut add = |present: bool, field| {
            if present {
                f.push(field);
            }
        };
        add(self.organization.is_some(), Field::Organization);
        add(self.role.is_some(), Field::Role);
        add(self.department.is_some(), Field::Department);
        add(!self.capabilities.is_empty(), Field::Capabilities);
        add(!self.languages.is_empty(), Field::Languages);
        add(!self.topics.is_empty(), Field::Topics);
        add(self.email.is_some(), Field::Email);
        add(self.sip_aor.is_some(), Field::SipAor);
        f
    }
}

/// Cut `target`'s profile at `level`; `topics` are the participant's topic names.
pub fn project(target: &Participant, level: ProfileLevel, topics: &[String]) -> ParticipantView {
    let primary = target.primary();
    let shows = |f: Field| f.level() <= level;
    let methods = &target.permissions.contact_methods;
    ParticipantView {
        id: target.id.to_string(),
        entity: Some(target.entity),
        level,
        name: primary.map(|i| i.name.clone()).unwrap_or_default(),
        organization: shows(Field::Organization)
            .then(|| target.organization().map(str::to_owned))
            .flatten(),
        role: shows(Field::Role)
            .then(|| target.role().map(str::to_owned))
            .flatten(),
        department: shows(Field::Department)
            .then(|| target.department().map(str::to_owned))
            .flatten(),
        capabilities: if shows(Field::Capabilities) {
            primary.map(|i| i.capabilities.clone()).unwrap_or_default()
        } else {
            Vec::new()
        },
        languages: if shows(Field::Languages) {
            primary.map(|i| i.languages.clone()).unwrap_or_default()
        } else {
            Vec::new()
        },
        topics: if shows(Field::Topics) {
            topics.to_vec()
        } else {
            Vec::new()
        },
        email: (shows(Field::Email) && methods.contains(&ContactMethod::Email))
            .then(|| primary.and_then(|i| i.email.clone()))
            .flatten(),
        sip_aor: (shows(Field::SipAor) && methods.contains(&ContactMethod::Sip))
            .then(|| primary.and_then(|i| i.sip_aor.clone()))
            .flatten(),
        identities: if level >= ProfileLevel::Full {
            target.identities.clone()
        } else {
            Vec::new()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CrossOrgPolicy, OrgContext};

    fn id(s: &str) -> ParticipantId {
        ParticipantId::parse(s).unwrap()
    }

    fn alice() -> Participant {
        let mut p = Participant::new(id("alice@ai-lab.example.com"), EntityType::Human, "Alice");
        p.org = Some(OrgContext {
            organization: "AI Lab".into(),
            access: AccessLevel::Public,
            cross_org: CrossOrgPolicy {
                allow_external_contact: true,
                ..CrossOrgPolicy::default()
            },
            ..OrgContext::default()
        });
        p
    }

    fn bob() -> Requester {
        Requester {
            id: Some(id("bob@example.org")),
            organization: Some("Other".into()),
            ..Requester::default()
        }
    }

    #[test]
    fn block_lists_win_over_grants_and_relationships() {
        let mut a = alice();
        a.permissions.auto_accept.push(id("bob@example.org"));
        a.permissions.blocked_domains.push("EXAMPLE.org".into());
        let d = decide(&a, &bob(), Ties { related: true }, How::ExactId, 100);
        assert!(!d.visible);
    }

    #[test]
    fn unlisted_is_found_by_exact_id_but_not_by_search() {
        let mut a = alice();
        a.permissions.discoverability = Discoverability::Unlisted;
        assert!(!decide(&a, &bob(), Ties::default(), How::Search, 50).visible);
        assert!(decide(&a, &bob(), Ties::default(), How::ExactId, 50).visible);
    }

    #[test]
    fn external_contact_may_need_approval() {
        let mut a = alice();
        if let Some(o) = a.org.as_mut() {
            o.cross_org.approval = ApprovalLevel::Manager;
        }
        let d = decide(&a, &bob(), Ties::default(), How::Search, 50);
        assert!(
            matches!(d.contact, Permission::RequiresApproval { .. }),
            "{d:?}"
        );
        if let Some(o) = a.org.as_mut() {
            o.cross_org.partners.push("other".into());
        }
        let d = decide(&a, &bob(), Ties::default(), How::Search, 50);
        assert_eq!(d.contact, Permission::Allowed);
    }

    #[test]
    fn projection_cuts_at_the_level() {
        let mut a = alice();
        a.identities[0].email = Some("alice@ai-lab.example.com".into());
        a.identities[0].role = Some("Research scientist".into());
        let v = project(&a, ProfileLevel::Minimal, &[]);
        assert_eq!(v.fields(), vec![Field::Name]);
        let v = project(&a, ProfileLevel::Detailed, &[]);
        assert!(v.email.is_some() && v.organization.is_some());
    }
}
