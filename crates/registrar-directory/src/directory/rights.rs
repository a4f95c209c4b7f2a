//! Data rights: export and erasure.

use super::*;

impl<I: SearchIndex> Directory<I> {
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
            participant: (**p).clone(),
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
}
