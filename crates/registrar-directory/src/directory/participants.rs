//! Participants: adding, replacing, looking up (by id, by SIP AoR), and who may watch whom.

use super::*;

impl<I: SearchIndex> Directory<I> {
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
        self.participants.get(id).map(|p| &**p)
    }

    pub(super) fn doc(&self, p: &Participant) -> IndexDoc {
        index_doc(p, &self.topics_of)
    }

    pub(super) fn list_aor(&mut self, p: &Participant) {
        if let Some(a) = p.primary().and_then(|i| i.sip_aor.as_deref()) {
            self.by_aor.insert(a.to_owned(), p.id.clone());
        }
    }

    /// The participant whose primary identity has SIP AoR `aor`.
    pub fn participant_by_sip_aor(&self, aor: &str) -> Option<&Participant> {
        self.by_aor
            .get(aor)
            .and_then(|id| self.participants.get(id))
            .map(|p| &**p)
    }

    /// Whether `watcher` may follow `target`'s presence: `target` is visible to them and they are related
    /// (a relationship `target` declared, or a mutual one) or a contact request between them was approved.
    pub fn may_watch(&self, watcher: &ParticipantId, target: &ParticipantId) -> bool {
        let Some(t) = self.participants.get(target) else {
            return false;
        };
        let req = self.requester(Some(watcher));
        if !self.decide(t, &req, How::ExactId).visible {
            return false;
        }
        self.graph.related(target, watcher)
            || self
                .contacts_between(watcher, target)
                .any(|c| c.state == ContactState::Approved)
    }

    pub(super) fn unlist_org(&mut self, p: &Participant) {
        if let Some(a) = p.primary().and_then(|i| i.sip_aor.as_deref())
            && self.by_aor.get(a) == Some(&p.id)
        {
            self.by_aor.remove(a);
        }
        if let Some(o) = p.organization() {
            let key = o.to_lowercase();
            if let Some(set) = self.by_org.get_mut(&key) {
                set.remove(&p.id);
                if set.is_empty() {
                    self.by_org.remove(&key);
                }
            }
        }
    }

    /// Add or replace a participant.
    ///
    /// # Errors
    /// [`Error::Invalid`]: a text or list over its limit ([`crate::limits`]).
    pub fn put_participant(&mut self, p: Participant) -> Result<Vec<DirectoryChange>, Error> {
        crate::limits::participant(&p)?;
        let change = DirectoryChange::PutParticipant(Box::new(p.clone()));
        self.insert_participant(p);
        Ok(vec![change])
    }

    pub(super) fn insert_participant(&mut self, p: Participant) {
        let doc = self.doc(&p);
        self.index.upsert(&doc);
        if let Some(old) = self.participants.get(&p.id).cloned() {
            self.unlist_org(&old);
        }
        if let Some(o) = p.organization() {
            self.by_org
                .entry(o.to_lowercase())
                .or_default()
                .insert(p.id.clone());
        }
        self.list_aor(&p);
        self.participants.insert(p.id.clone(), Box::new(p));
    }
}
