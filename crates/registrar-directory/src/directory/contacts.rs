//! Contact requests: asking, deciding, listing.

use super::*;

impl<I: SearchIndex> Directory<I> {
    /// `req` asks to be put in touch with `to`. A participant `req` may not see cannot be asked (unknown,
    /// as if it did not exist); a denied contact is refused with its reason; a requester on `to`'s
    /// auto-accept list is approved at once; an undecided request from the same requester is returned again
    /// rather than repeated. The changes include the audit entry of the permission decision.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`], [`Error::Forbidden`], [`Error::Invalid`] (a note over 500 bytes, an
    /// anonymous requester, or asking oneself).
    pub fn ask_contact(
        &mut self,
        req: &Requester,
        to: &ParticipantId,
        note: &str,
        now_ms: u64,
    ) -> Result<(ContactRequest, Vec<DirectoryChange>), Error> {
        let Some(from) = req.id.clone() else {
            return Err(Error::Invalid(
                "an anonymous requester cannot ask for contact".into(),
            ));
        };
        if &from == to {
            return Err(Error::Invalid("nobody asks to contact themself".into()));
        }
        crate::limits::note(note)?;
        let (permission, mut changes) = self.contact_permission(req, to, now_ms);
        let Some(permission) = permission else {
            return Err(Error::UnknownParticipant(to.to_string()));
        };
        if let Permission::Denied { reason } = &permission {
            return Err(Error::Forbidden(reason.clone()));
        }
        if let Some(open) = self
            .contacts_between(&from, to)
            .find(|c| c.from == from && c.state_at(now_ms) == ContactState::Pending)
        {
            return Ok((open.clone(), changes));
        }
        let granted = self
            .participants
            .get(to)
            .is_some_and(|p| p.permissions.auto_accept.contains(&from));
        let c = ContactRequest {
            id: self.next_contact,
            from,
            to: to.clone(),
            note: note.to_owned(),
            created_ms: now_ms,
            state: if granted {
                ContactState::Approved
            } else {
                ContactState::Pending
            },
            decided_ms: granted.then_some(now_ms),
        };
        self.next_contact += 1;
        self.file_contact(c.clone());
        changes.push(DirectoryChange::PutContact(c.clone()));
        Ok((c, changes))
    }

    /// `actor` approves or declines request `id` (only its recipient may, while it is pending).
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`] (no such request for `actor`), [`Error::Forbidden`] (decided or
    /// expired already).
    pub fn decide_contact(
        &mut self,
        actor: &ParticipantId,
        id: u64,
        approve: bool,
        now_ms: u64,
    ) -> Result<(ContactRequest, Vec<DirectoryChange>), Error> {
        let Some(c) = self.contacts.get_mut(&id).filter(|c| &c.to == actor) else {
            return Err(Error::UnknownParticipant(format!("contact request {id}")));
        };
        match c.state_at(now_ms) {
            ContactState::Pending => {}
            ContactState::Expired => {
                return Err(Error::Forbidden(format!(
                    "contact request {id} expired (undecided for 24 h)"
                )));
            }
            _ => {
                return Err(Error::Forbidden(format!(
                    "contact request {id} was decided already"
                )));
            }
        }
        c.state = if approve {
            ContactState::Approved
        } else {
            ContactState::Declined
        };
        c.decided_ms = Some(now_ms);
        let c = c.clone();
        Ok((c.clone(), vec![DirectoryChange::PutContact(c)]))
    }

    /// The contact requests `id` made or received, newest first, as of `now_ms` (expired ones marked).
    pub fn contact_requests(&self, id: &ParticipantId, now_ms: u64) -> Vec<ContactRequest> {
        let mut numbers = self.contacts_of.get(id).cloned().unwrap_or_default();
        numbers.sort_unstable_by(|a, b| b.cmp(a));
        numbers
            .iter()
            .filter_map(|n| self.contacts.get(n))
            .map(|c| c.clone().at(now_ms))
            .collect()
    }

    pub(super) fn file_contact(&mut self, c: ContactRequest) {
        for party in [&c.from, &c.to] {
            let list = self.contacts_of.entry(party.clone()).or_default();
            if !list.contains(&c.id) {
                list.push(c.id);
            }
        }
        self.contacts.insert(c.id, c);
    }

    /// The contact requests between `a` and `b`, either way.
    pub(super) fn contacts_between<'a>(
        &'a self,
        a: &'a ParticipantId,
        b: &'a ParticipantId,
    ) -> impl Iterator<Item = &'a ContactRequest> + 'a {
        self.contacts_of
            .get(a)
            .into_iter()
            .flatten()
            .filter_map(|n| self.contacts.get(n))
            .filter(move |c| (&c.from == a && &c.to == b) || (&c.from == b && &c.to == a))
    }
}
