//! Topic experts: listing, filtering by presence, organization and region, and routing in turn.

use super::*;

impl<I: SearchIndex> Directory<I> {
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
}
