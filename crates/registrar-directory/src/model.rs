//! The directory's data: participants with their identity contexts, discovery permissions, organization
//! context, relationships, topic subscriptions and trust ratings. Identifiers are parsed at the edge
//! ([`ParticipantId::parse`]); everything else is plain data (serde, for export and storage).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A participant's global id, `local@domain` (`alice@ai-lab.example.com`), compared case-insensitively in
/// the domain and case-sensitively in the local part, like an email address.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ParticipantId(Arc<str>);

impl ParticipantId {
    /// Parse `local@domain`: one `@`, a non-empty local part of at most 64 bytes without spaces or control
    /// characters, a domain of dot-separated labels (letters, digits, `-`) of at most 253 bytes, lower-cased.
    ///
    /// # Errors
    /// [`Error::InvalidId`] with the reason.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::InvalidId(format!("{s:?}: {why}"));
        let (local, domain) = s.split_once('@').ok_or_else(|| bad("no '@'"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(bad("the local part must be 1 to 64 bytes"));
        }
        if local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@' || c == '<' || c == '>')
        {
            return Err(bad(
                "the local part has a space, control character, '@' or angle bracket",
            ));
        }
        if domain.is_empty() || domain.len() > 253 {
            return Err(bad("the domain must be 1 to 253 bytes"));
        }
        for label in domain.split('.') {
            if label.is_empty()
                || label.len() > 63
                || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err(bad(
                    "the domain must be dot-separated labels of letters, digits and '-'",
                ));
            }
        }
        Ok(Self(Arc::from(format!(
            "{local}@{}",
            domain.to_ascii_lowercase()
        ))))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ParticipantId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "a participant id, local@domain: a local part of 1 to 64 bytes without spaces, control \
                 characters, '@' or angle brackets (the pattern shows the ASCII ones), and a domain of \
                 dot-separated labels of letters, digits and '-' (at most 253 bytes)",
            ))
            .pattern(Some(
                r"^[!-;=?A-~]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*$",
            ))
            .max_length(Some(318))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ParticipantId {}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ParticipantId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Self::parse(&s)
    }
}

impl From<ParticipantId> for String {
    fn from(id: ParticipantId) -> Self {
        id.0.to_string()
    }
}

impl std::str::FromStr for ParticipantId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

/// What kind of entity a participant is.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EntityType {
    /// A person.
    Human,
    /// An AI agent.
    AiAgent,
    /// A service (an IVR, a conference bridge).
    Service,
    /// A bot (a deployment bot).
    Bot,
    /// An organization as a whole.
    Organization,
}

/// The kind of an identity context.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IdentityKind {
    /// Private life.
    Personal,
    /// At work.
    Professional,
    /// A service identity.
    Service,
    /// A bot identity.
    Bot,
    /// Speaking for an organization.
    Organization,
    /// Speaking for a department.
    Department,
    /// A role (on-call engineer).
    Role,
}

/// One face of a participant ("Alice, research scientist at the AI Lab"; "Alice, at home").
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityContext {
    /// Display name in this context.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub name: String,
    /// What this context is.
    pub kind: Option<IdentityKind>,
    /// Email address.
    #[cfg_attr(feature = "openapi", schema(max_length = 254))]
    pub email: Option<String>,
    /// SIP address of record.
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub sip_aor: Option<String>,
    /// Organization.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub organization: Option<String>,
    /// Department.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub department: Option<String>,
    /// Role or title.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub role: Option<String>,
    /// What the participant can do (for agents and services: `deploy`, `translate`); each at most 64 bytes.
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub capabilities: Vec<String>,
    /// Languages (BCP 47 tags); each at most 64 bytes.
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub languages: Vec<String>,
    /// Whether this context is in use.
    #[serde(default = "active_by_default")]
    pub active: bool,
}

/// Who finds a participant.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Discoverability {
    /// Found by search.
    #[default]
    Public,
    /// Found by exact id, a referral or strong hints only.
    Unlisted,
    /// Found only by someone with a relationship or an explicit grant.
    Private,
    /// Invisible unless pre-authorized.
    Stealth,
}

/// How much of a profile an audience sees, each level including the previous.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProfileLevel {
    /// Id, display name, entity type.
    #[default]
    Minimal,
    /// Plus organization and role.
    Basic,
    /// Plus department, capabilities, languages, topics.
    Standard,
    /// Plus contact methods (email, SIP AoR).
    Detailed,
    /// Everything, every identity context.
    Full,
}

/// A profile field, for searchability and projection.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Field {
    /// Display name.
    Name,
    /// Organization.
    Organization,
    /// Role.
    Role,
    /// Department.
    Department,
    /// Capabilities.
    Capabilities,
    /// Languages.
    Languages,
    /// Topics.
    Topics,
    /// Email.
    Email,
    /// SIP AoR.
    SipAor,
}

impl Field {
    /// Every field.
    pub const ALL: [Self; 9] = [
        Self::Name,
        Self::Organization,
        Self::Role,
        Self::Department,
        Self::Capabilities,
        Self::Languages,
        Self::Topics,
        Self::Email,
        Self::SipAor,
    ];

    /// The lowest profile level that shows this field.
    pub const fn level(self) -> ProfileLevel {
        match self {
            Self::Name => ProfileLevel::Minimal,
            Self::Organization | Self::Role => ProfileLevel::Basic,
            Self::Department | Self::Capabilities | Self::Languages | Self::Topics => {
                ProfileLevel::Standard
            }
            Self::Email | Self::SipAor => ProfileLevel::Detailed,
        }
    }
}

/// Which profile level each audience gets.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Audiences {
    /// Anyone allowed to see the participant at all.
    pub public: ProfileLevel,
    /// Members of the same organization.
    pub organization: ProfileLevel,
    /// Participants with a relationship.
    pub relationship: ProfileLevel,
    /// Participants granted access explicitly (pre-authorized).
    pub granted: ProfileLevel,
}

impl Default for Audiences {
    fn default() -> Self {
        Self {
            public: ProfileLevel::Basic,
            organization: ProfileLevel::Standard,
            relationship: ProfileLevel::Detailed,
            granted: ProfileLevel::Detailed,
        }
    }
}

/// A way to reach a participant.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContactMethod {
    /// A SIP call or message to the AoR.
    Sip,
    /// Email.
    Email,
}

/// Who may find and reach a participant, and what they see.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscoveryPermissions {
    /// Who finds the participant.
    pub discoverability: Discoverability,
    /// Fields a search may match on (a query never matches a field not listed, so search cannot reveal it).
    #[cfg_attr(feature = "openapi", schema(max_items = 9))]
    pub searchable: Vec<Field>,
    /// What each audience sees.
    pub audiences: Audiences,
    /// How the participant may be reached.
    #[cfg_attr(feature = "openapi", schema(max_items = 2))]
    pub contact_methods: Vec<ContactMethod>,
    /// A requester without a relationship must be introduced first.
    pub require_introduction: bool,
    /// Always allowed to contact (and, for stealth and private participants, to find): the pre-authorized.
    #[cfg_attr(feature = "openapi", schema(max_items = 500))]
    pub auto_accept: Vec<ParticipantId>,
    /// Never see or reach the participant: ids.
    #[cfg_attr(feature = "openapi", schema(max_items = 500))]
    pub blocked_ids: Vec<ParticipantId>,
    /// … domains (of the requester's id); each at most 253 bytes.
    #[cfg_attr(feature = "openapi", schema(max_items = 200))]
    pub blocked_domains: Vec<String>,
    /// … organizations (of the requester); each at most 200 bytes.
    #[cfg_attr(feature = "openapi", schema(max_items = 200))]
    pub blocked_organizations: Vec<String>,
    /// The requester's trust score (0–100) must be at least this to contact.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100))]
    pub min_trust: u8,
}

impl Default for DiscoveryPermissions {
    fn default() -> Self {
        Self {
            discoverability: Discoverability::Public,
            searchable: vec![
                Field::Name,
                Field::Organization,
                Field::Role,
                Field::Department,
                Field::Capabilities,
                Field::Topics,
            ],
            audiences: Audiences::default(),
            contact_methods: vec![ContactMethod::Sip, ContactMethod::Email],
            require_introduction: false,
            auto_accept: Vec::new(),
            blocked_ids: Vec::new(),
            blocked_domains: Vec::new(),
            blocked_organizations: Vec::new(),
            min_trust: 0,
        }
    }
}

/// How widely an organization shows its members.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AccessLevel {
    /// Anyone.
    #[default]
    Public,
    /// Members of the organization.
    Internal,
    /// Members of the same department.
    Department,
    /// Members of the same team.
    Team,
    /// Only with a relationship or grant.
    Confidential,
}

/// Who must approve contact from outside the organization.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ApprovalLevel {
    /// Nobody.
    #[default]
    None,
    /// The participant.
    Participant,
    /// Their manager.
    Manager,
    /// An administrator.
    Admin,
}

/// Contact across organizations.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrossOrgPolicy {
    /// Whether anyone outside may make contact at all (partners always may).
    pub allow_external_contact: bool,
    /// Approval needed for external contact (partners need none).
    pub approval: ApprovalLevel,
    /// Partner organizations; each at most 200 bytes.
    #[cfg_attr(feature = "openapi", schema(max_items = 200))]
    pub partners: Vec<String>,
    /// Organizations whose members never see or reach this one's; each at most 200 bytes.
    #[cfg_attr(feature = "openapi", schema(max_items = 200))]
    pub blocked: Vec<String>,
}

/// Where a participant sits in an organization.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrgContext {
    /// Organization.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub organization: String,
    /// Department.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub department: Option<String>,
    /// Team.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub team: Option<String>,
    /// Role.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub role: Option<String>,
    /// Who sees members.
    pub access: AccessLevel,
    /// External contact.
    pub cross_org: CrossOrgPolicy,
}

/// How sure the directory is that a participant is who they claim.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum VerificationLevel {
    /// Nothing checked.
    #[default]
    None,
    /// Email or domain verified.
    Email,
    /// Vouched for by the organization.
    Organization,
    /// Identity documents checked.
    Strong,
}

const fn active_by_default() -> bool {
    true
}

/// A participant. Unknown fields are refused when one is read (a misspelt setting must not pass silently),
/// and [`crate::limits::participant`] bounds every text and list.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participant {
    /// Global id.
    pub id: ParticipantId,
    /// Entity type.
    pub entity: EntityType,
    /// Identity contexts; the first active one is the primary.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 10))]
    pub identities: Vec<IdentityContext>,
    /// Discovery permissions.
    #[serde(default)]
    pub permissions: DiscoveryPermissions,
    /// Organization context.
    #[serde(default)]
    pub org: Option<OrgContext>,
    /// Verification.
    #[serde(default)]
    pub verification: VerificationLevel,
    /// The participant's time zone as a fixed offset from UTC in minutes (for time rules), -1 440 to 1 440.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = -1440, maximum = 1440))]
    pub utc_offset_minutes: i16,
    /// Region (for expert filters), free text such as `eu-west`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub region: Option<String>,
    /// Created, milliseconds since the Unix epoch (set by the directory's server).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(read_only))]
    pub created_ms: u64,
    /// Last changed, milliseconds since the Unix epoch (set by the directory's server).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(read_only))]
    pub updated_ms: u64,
}

impl Participant {
    /// A participant with one identity context and default permissions.
    pub fn new(id: ParticipantId, entity: EntityType, name: impl Into<String>) -> Self {
        Self {
            id,
            entity,
            identities: vec![IdentityContext {
                name: name.into(),
                active: true,
                ..IdentityContext::default()
            }],
            permissions: DiscoveryPermissions::default(),
            org: None,
            verification: VerificationLevel::None,
            utc_offset_minutes: 0,
            region: None,
            created_ms: 0,
            updated_ms: 0,
        }
    }

    /// The primary identity: the first active context (or the first).
    pub fn primary(&self) -> Option<&IdentityContext> {
        self.identities
            .iter()
            .find(|i| i.active)
            .or_else(|| self.identities.first())
    }

    /// The organization: the org context's, or the primary identity's.
    pub fn organization(&self) -> Option<&str> {
        self.org
            .as_ref()
            .map(|o| o.organization.as_str())
            .or_else(|| self.primary().and_then(|i| i.organization.as_deref()))
    }

    /// The department: the org context's, or the primary identity's.
    pub fn department(&self) -> Option<&str> {
        self.org
            .as_ref()
            .and_then(|o| o.department.as_deref())
            .or_else(|| self.primary().and_then(|i| i.department.as_deref()))
    }

    /// The team (org context only).
    pub fn team(&self) -> Option<&str> {
        self.org.as_ref().and_then(|o| o.team.as_deref())
    }

    /// The role: the org context's, or the primary identity's.
    pub fn role(&self) -> Option<&str> {
        self.org
            .as_ref()
            .and_then(|o| o.role.as_deref())
            .or_else(|| self.primary().and_then(|i| i.role.as_deref()))
    }
}

/// A relationship's kind.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RelationshipKind {
    /// `to` is `from`'s boss.
    Boss,
    /// `to` reports to `from`.
    DirectReport,
    /// Colleague.
    Colleague,
    /// Collaborator.
    Collaborator,
    /// Same team.
    TeamMember,
    /// Family.
    Family,
    /// Friend.
    Friend,
    /// Acquaintance.
    Acquaintance,
    /// `to` provides a service to `from`.
    ServiceProvider,
    /// `to` is `from`'s customer.
    Customer,
    /// `to` supports `from`.
    Support,
    /// `to` is a bot `from` uses.
    Bot,
    /// `to` is a service `from` uses.
    Service,
    /// `to` monitors `from`.
    Monitor,
}

/// A relationship from one participant to another, as `from` declares it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct Relationship {
    /// Who declares it.
    pub from: ParticipantId,
    /// About whom.
    pub to: ParticipantId,
    /// What `to` is to `from`.
    pub kind: RelationshipKind,
    /// Both sides confirmed it.
    pub mutual: bool,
}

/// How a participant follows a topic.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TopicRole {
    /// Answers questions on it.
    Expert,
    /// Wants to hear about it.
    Interested,
    /// Watches it.
    Monitoring,
    /// Learning it.
    Learning,
}

/// Expertise in a topic.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Expertise {
    /// Beginner.
    #[default]
    Beginner,
    /// Intermediate.
    Intermediate,
    /// Advanced.
    Advanced,
    /// Expert.
    Expert,
    /// Authority.
    Authority,
}

/// A participant's subscription to a topic.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct TopicSubscription {
    /// Who.
    pub participant: ParticipantId,
    /// Topic, lower-case (`climate-modelling`).
    #[cfg_attr(feature = "openapi", schema(max_length = 100))]
    pub topic: String,
    /// How they follow it.
    pub role: TopicRole,
    /// Their level.
    pub expertise: Expertise,
    /// Also offered expert requests when busy or away (never in do-not-disturb or offline).
    #[serde(default)]
    pub when_busy: bool,
}

/// What a trust rating is about.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TrustCategory {
    /// Communication.
    Communication,
    /// Technical.
    Technical,
    /// Collaboration.
    Collaboration,
    /// Reliability.
    Reliability,
    /// Privacy.
    Privacy,
    /// Overall.
    Overall,
}

/// One rater's rating of one ratee in one category (0–100); a new rating replaces the old one.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct TrustRating {
    /// Who rates.
    pub rater: ParticipantId,
    /// Who is rated.
    pub ratee: ParticipantId,
    /// Category.
    pub category: TrustCategory,
    /// 0–100.
    pub score: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_and_lower_case_the_domain() {
        let id = ParticipantId::parse("Alice@AI-Lab.Example.com").unwrap();
        assert_eq!(id.as_str(), "Alice@ai-lab.example.com");
        assert_eq!(id.domain(), "ai-lab.example.com");
        for bad in [
            "",
            "alice",
            "@x.com",
            "a b@x.com",
            "a@",
            "a@x..com",
            "a@x_y.com",
            "a@b@c",
        ] {
            assert!(ParticipantId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_levels_grow() {
        assert!(Field::Email.level() > Field::Role.level());
        assert!(ProfileLevel::Full > ProfileLevel::Detailed);
    }
}
