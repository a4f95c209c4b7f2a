//! Contact resolution: gathering candidates, cutting them to what the requester may be shown, ranking and resolving.

use super::*;

impl<I: SearchIndex> Directory<I> {
    /// Each hint given, with the field it is checked against (`None`: the id's domain or the entity type,
    /// which every profile level shows) and whether it matched `p`. A hint is checked only against fields a
    /// search may use, so it cannot confirm a field the participant did not open.
    pub(super) fn hint_matches(&self, p: &Participant, h: &Hints) -> Vec<HintMatch> {
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

    /// One candidate for `req`, whom the privacy rules let see `p` with decision `d`. `ball`: the
    /// requester's neighbourhood ([`Graph::ball`]), shared by the candidates of one query.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn candidate(
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
