//! Priority settings and the priority of a message (the engine is [`crate::priority`]).

use super::*;

impl<I: SearchIndex> Directory<I> {
    /// Set a participant's priority settings.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`].
    pub fn put_priority(&mut self, mut s: PrioritySettings) -> Result<Vec<DirectoryChange>, Error> {
        if !self.participants.contains_key(&s.participant) {
            return Err(Error::UnknownParticipant(s.participant.to_string()));
        }
        crate::limits::priority(&s)?;
        for (t, _) in &mut s.per_topic {
            *t = t.trim().to_lowercase();
        }
        self.priorities.insert(s.participant.clone(), s.clone());
        Ok(vec![DirectoryChange::PutPriority(s)])
    }

    /// A participant's priority settings (defaults when none were set).
    pub fn priority_settings(&self, id: &ParticipantId) -> PrioritySettings {
        self.priorities
            .get(id)
            .cloned()
            .unwrap_or_else(|| PrioritySettings::new(id.clone()))
    }

    /// The priority of `m` for its recipient: their settings, their block lists, their relationship to the
    /// sender, their time zone.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`] for an unknown recipient.
    pub fn prioritize(&self, m: &Message) -> Result<PriorityDecision, Error> {
        let Some(r) = self.participants.get(&m.recipient) else {
            return Err(Error::UnknownParticipant(m.recipient.to_string()));
        };
        self.prioritize_for(r, m)
    }

    /// [`Self::prioritize`] asked by `req`: the recipient must be someone `req` may see by exact id, else
    /// the answer is the one for an id that does not exist (a sender the recipient blocked included).
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`].
    pub fn prioritize_as(&self, req: &Requester, m: &Message) -> Result<PriorityDecision, Error> {
        let r = self.known_to(req, &m.recipient)?;
        self.prioritize_for(r, m)
    }

    pub(super) fn prioritize_for(
        &self,
        r: &Participant,
        m: &Message,
    ) -> Result<PriorityDecision, Error> {
        let sender_req = self.requester(m.sender.as_ref());
        // The recipient's own declaration: a mutual relationship includes one, and what the sender
        // declared alone counts for nothing.
        let relationship = m
            .sender
            .as_ref()
            .and_then(|s| self.graph.declared(&r.id, s).map(|(k, _)| k));
        let facts = SenderFacts {
            blocked: m.sender.is_some() && privacy::blocked(r, &sender_req),
            relationship,
        };
        let default = PrioritySettings::new(r.id.clone());
        let settings = self.priorities.get(&r.id).unwrap_or(&default);
        Ok(priority::prioritize(
            m,
            settings,
            r.utc_offset_minutes,
            &facts,
        ))
    }
}
