//! The audit log: who discovered, viewed, asked to contact, exported or erased whom, when, and what was
//! decided. Append-only: the directory only ever adds entries (as [`DirectoryChange::Audit`]); the one
//! rewrite is erasure, after which the erased participant appears only as a [`AuditParty::Erased`]
//! tombstone (a digest of their id, so an operator who is asked "was X erased?" can check it, while the log
//! itself no longer names X).
//!
//! [`DirectoryChange::Audit`]: crate::DirectoryChange::Audit

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::ParticipantId;

/// What happened.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditAction {
    /// The participant was returned by a discovery (resolution or expert search).
    Discovered,
    /// Their profile was viewed by id.
    ProfileView,
    /// Whether the actor may contact them was decided.
    PermissionDecision,
    /// Their data was exported.
    Export,
    /// They were erased.
    Erasure,
}

/// One side of an entry.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditParty {
    /// A participant (or an authenticated requester without a profile here).
    Participant(ParticipantId),
    /// An anonymous requester.
    Anonymous,
    /// A participant since erased, or an id asked for that names no participant: `sha256:` and the hex
    /// digest of the id (it names no one, yet whoever knows the id can check it).
    Erased(String),
}

impl AuditParty {
    /// The actor of a request.
    pub fn actor(id: Option<&ParticipantId>) -> Self {
        id.map_or(Self::Anonymous, |i| Self::Participant(i.clone()))
    }

    /// The tombstone of `id`.
    pub fn tombstone(id: &ParticipantId) -> Self {
        let digest = Sha256::digest(id.as_str().as_bytes());
        let mut hex = String::with_capacity(7 + 64);
        hex.push_str("sha256:");
        for b in digest {
            hex.push_str(&format!("{b:02x}"));
        }
        Self::Erased(hex)
    }

    /// Whether this names `id`.
    pub fn is(&self, id: &ParticipantId) -> bool {
        matches!(self, Self::Participant(p) if p == id)
    }
}

/// One audit entry.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When, ms since the Unix epoch.
    pub at_ms: u64,
    /// Who asked.
    pub actor: AuditParty,
    /// About whom.
    pub subject: AuditParty,
    /// What.
    pub action: AuditAction,
    /// What was decided (`allowed`, `denied: …`, `shown at basic`, `hidden`, …).
    pub decision: String,
}

impl AuditEntry {
    /// This entry as it must read once `id` is erased: `None` when it was about `id` (dropped: the erasure's
    /// own tombstone entry stands for it), otherwise with `id` as actor replaced by their tombstone.
    pub fn after_erasure(mut self, id: &ParticipantId) -> Option<Self> {
        if self.subject.is(id) {
            return None;
        }
        if self.actor.is(id) {
            self.actor = AuditParty::tombstone(id);
        }
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erasure_drops_entries_about_and_redacts_entries_by() {
        let a = ParticipantId::parse("a@x.com").unwrap();
        let b = ParticipantId::parse("b@x.com").unwrap();
        let e = |actor: &ParticipantId, subject: &ParticipantId| AuditEntry {
            at_ms: 1,
            actor: AuditParty::actor(Some(actor)),
            subject: AuditParty::Participant(subject.clone()),
            action: AuditAction::ProfileView,
            decision: "shown at basic".into(),
        };
        assert_eq!(e(&b, &a).after_erasure(&a), None);
        let by_a = e(&a, &b).after_erasure(&a).unwrap();
        assert_eq!(by_a.actor, AuditParty::tombstone(&a));
        assert!(!format!("{by_a:?}").contains("a@x.com"));
        assert_eq!(e(&b, &b).after_erasure(&a), Some(e(&b, &b)));
        let AuditParty::Erased(t) = AuditParty::tombstone(&a) else {
            panic!()
        };
        assert_eq!(t.len(), 7 + 64);
    }
}
