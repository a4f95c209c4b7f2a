//! Contact requests: a requester asks to be put in touch with a participant, who approves or declines;
//! a request nobody decided within [`EXPIRY_MS`] (24 h) expires. Asking goes through the privacy rules like
//! every other path: a participant the requester may not see cannot be asked (it does not exist for them),
//! and a denied contact is refused with its reason.

use serde::{Deserialize, Serialize};

use crate::model::ParticipantId;

/// A pending request expires after this long (24 h).
pub const EXPIRY_MS: u64 = 24 * 3_600 * 1_000;
/// The longest note a request may carry, in bytes.
pub const NOTE_MAX: usize = crate::limits::NOTE;

/// Where a request stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContactState {
    /// Waiting for the participant.
    Pending,
    /// Approved.
    Approved,
    /// Declined.
    Declined,
    /// Nobody decided within 24 h.
    Expired,
}

/// A contact request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
pub struct ContactRequest {
    /// Its number (unique in the directory).
    pub id: u64,
    /// Who asks.
    pub from: ParticipantId,
    /// Whom.
    pub to: ParticipantId,
    /// Why, in the asker's words.
    #[serde(default)]
    pub note: String,
    /// When it was asked, ms since the Unix epoch.
    pub created_ms: u64,
    /// Where it stands (as stored; see [`ContactRequest::state_at`]).
    pub state: ContactState,
    /// When it was decided or expired.
    #[serde(default)]
    pub decided_ms: Option<u64>,
}

impl ContactRequest {
    /// Its state at `now_ms`: a pending request past its 24 h has expired.
    pub fn state_at(&self, now_ms: u64) -> ContactState {
        if self.state == ContactState::Pending
            && now_ms >= self.created_ms.saturating_add(EXPIRY_MS)
        {
            ContactState::Expired
        } else {
            self.state
        }
    }

    /// This request as of `now_ms` (an expired one marked so).
    pub fn at(mut self, now_ms: u64) -> Self {
        if self.state_at(now_ms) == ContactState::Expired && self.state == ContactState::Pending {
            self.state = ContactState::Expired;
            self.decided_ms = Some(self.created_ms.saturating_add(EXPIRY_MS));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_requests_expire_after_a_day() {
        let r = ContactRequest {
            id: 1,
            from: ParticipantId::parse("a@x.com").unwrap(),
            to: ParticipantId::parse("b@x.com").unwrap(),
            note: String::new(),
            created_ms: 1_000,
            state: ContactState::Pending,
            decided_ms: None,
        };
        assert_eq!(r.state_at(1_000 + EXPIRY_MS - 1), ContactState::Pending);
        assert_eq!(r.state_at(1_000 + EXPIRY_MS), ContactState::Expired);
        let e = r.clone().at(1_000 + EXPIRY_MS + 5);
        assert_eq!(
            (e.state, e.decided_ms),
            (ContactState::Expired, Some(1_000 + EXPIRY_MS))
        );
        let mut d = r;
        d.state = ContactState::Approved;
        assert_eq!(d.state_at(u64::MAX), ContactState::Approved);
    }
}
