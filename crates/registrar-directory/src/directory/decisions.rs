//! The privacy rules ([`crate::privacy`]) applied: the requester as the directory knows them, ties, decisions, profile views and contact permissions; proximity and trust.

use super::*;

impl<I: SearchIndex> Directory<I> {
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
    pub(super) fn ball(&self, req: &Requester) -> HashMap<&ParticipantId, u8> {
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
                |p| Requester::from_profile(p),
            ),
            None => Requester::anonymous(),
        }
    }

    pub(super) fn ties(&self, target: &ParticipantId, req: &Requester) -> Ties {
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
}
