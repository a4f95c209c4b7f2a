//! Relationships, topics and ratings.

use super::*;

impl<I: SearchIndex> Directory<I> {
    /// Add or replace a relationship (both ends must exist). Its `mutual` flag is not taken from `r`: a
    /// relationship is mutual exactly when both sides declared one ([`Graph`]), and the change stored says
    /// whether it is.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`]; [`Error::Invalid`]: `from` declared the most relationships allowed
    /// ([`crate::limits::RELATIONSHIPS`]) or `from` and `to` are the same.
    pub fn put_relationship(&mut self, mut r: Relationship) -> Result<Vec<DirectoryChange>, Error> {
        for id in [&r.from, &r.to] {
            if !self.participants.contains_key(id) {
                return Err(Error::UnknownParticipant(id.to_string()));
            }
        }
        if r.from == r.to {
            return Err(Error::Invalid(
                "a relationship is between two participants".into(),
            ));
        }
        if self.graph.declared(&r.from, &r.to).is_none()
            && self.graph.declared_by(&r.from) >= crate::limits::RELATIONSHIPS
        {
            return Err(Error::Invalid(format!(
                "relationships: at most {} declared by one participant",
                crate::limits::RELATIONSHIPS
            )));
        }
        self.graph.put(&r);
        r.mutual = self.graph.declared(&r.to, &r.from).is_some();
        Ok(vec![DirectoryChange::PutRelationship(r)])
    }

    /// [`Self::put_relationship`] declared by `req` (the caller checked that `req` is `r.from`): `r.to` must
    /// be someone `req` may see by exact id, else the answer is the one for an id that does not exist.
    ///
    /// # Errors
    /// As [`Self::put_relationship`].
    pub fn put_relationship_as(
        &mut self,
        req: &Requester,
        r: Relationship,
    ) -> Result<Vec<DirectoryChange>, Error> {
        self.known_to(req, &r.to)?;
        self.put_relationship(r)
    }

    /// `Ok` when `id` exists and `req` may see it by exact id; otherwise the error an id that does not
    /// exist gets, so that no answer tells a hidden participant from a missing one.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`].
    pub fn known_to(&self, req: &Requester, id: &ParticipantId) -> Result<&Participant, Error> {
        self.participants
            .get(id)
            .map(|p| &**p)
            .filter(|p| self.decide(p, req, How::ExactId).visible)
            .ok_or_else(|| Error::UnknownParticipant(id.to_string()))
    }

    /// Remove the relationship `from → to`.
    pub fn remove_relationship(
        &mut self,
        from: &ParticipantId,
        to: &ParticipantId,
    ) -> Vec<DirectoryChange> {
        self.graph.remove(from, to);
        vec![DirectoryChange::RemoveRelationship(
            from.clone(),
            to.clone(),
        )]
    }

    /// Add or replace a topic subscription (topics are lower-cased).
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`], or an empty topic ([`Error::Invalid`]).
    pub fn put_topic(&mut self, mut t: TopicSubscription) -> Result<Vec<DirectoryChange>, Error> {
        if !self.participants.contains_key(&t.participant) {
            return Err(Error::UnknownParticipant(t.participant.to_string()));
        }
        crate::limits::topic(&t)?;
        t.topic = t.topic.trim().to_lowercase();
        if t.topic.is_empty() {
            return Err(Error::Invalid("empty topic".into()));
        }
        let followed = self.topics_of.get(&t.participant).map_or(0, Vec::len);
        let known = self
            .topics_of
            .get(&t.participant)
            .is_some_and(|l| l.contains(&t.topic));
        if !known && followed >= crate::limits::TOPICS {
            return Err(Error::Invalid(format!(
                "topics: at most {} per participant",
                crate::limits::TOPICS
            )));
        }
        self.insert_topic(t.clone());
        Ok(vec![DirectoryChange::PutTopic(t)])
    }

    pub(super) fn insert_topic(&mut self, t: TopicSubscription) {
        let participant = t.participant.clone();
        file_topic(&mut self.topics_of, &mut self.topics, t);
        if let Some(p) = self.participants.get(&participant) {
            let doc = self.doc(p);
            self.index.upsert(&doc);
        }
    }

    /// Add or replace a rating (both ends must exist; score capped at 100).
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`].
    pub fn put_rating(&mut self, mut r: TrustRating) -> Result<Vec<DirectoryChange>, Error> {
        for id in [&r.rater, &r.ratee] {
            if !self.participants.contains_key(id) {
                return Err(Error::UnknownParticipant(id.to_string()));
            }
        }
        r.score = r.score.min(100);
        self.ratings.put(&r);
        Ok(vec![DirectoryChange::PutRating(r)])
    }

    /// [`Self::put_rating`] by `req` (the caller checked that `req` is the rater): the ratee must be someone
    /// `req` may see by exact id, else the answer is the one for an id that does not exist.
    ///
    /// # Errors
    /// As [`Self::put_rating`].
    pub fn put_rating_as(
        &mut self,
        req: &Requester,
        r: TrustRating,
    ) -> Result<Vec<DirectoryChange>, Error> {
        self.known_to(req, &r.ratee)?;
        self.put_rating(r)
    }
}

/// File `t` under its participant and under its topic (the search index is the caller's to update). The
/// topic's key is copied once, when the topic is first seen.
pub(super) fn file_topic(
    topics_of: &mut HashMap<ParticipantId, Vec<String>>,
    topics: &mut HashMap<String, HashMap<ParticipantId, TopicSubscription>>,
    t: TopicSubscription,
) {
    let mine = topics_of.entry(t.participant.clone()).or_default();
    if !mine.contains(&t.topic) {
        mine.push(t.topic.clone());
    }
    if let Some(members) = topics.get_mut(&t.topic) {
        members.insert(t.participant.clone(), t);
    } else {
        let key = t.topic.clone();
        topics
            .entry(key)
            .or_default()
            .insert(t.participant.clone(), t);
    }
}
