//! The desk-phone event packages: call state reported by the SIP stack (`dialog`, RFC 4235, and the
//! on-the-phone activity in presence), and message waiting (`message-summary`, RFC 3842) set without SIP.

use std::hash::{Hash, Hasher};

use registrar_pidf::{
    Dialog, DialogEvent, DialogInfo, DialogParticipant, DialogState, Direction, MessageSummary,
};

use super::*;

/// One change of one of a user's calls, as a SIP stack reports it (see [`RegistrarService::report_call`]).
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct CallReport {
    /// What names the call in the SIP stack (its Call-ID, or a session id): every report about one call
    /// carries the same.
    pub key: String,
    /// The dialog's Call-ID, when the stack knows it (watchers use it for call pickup).
    pub call_id: Option<String>,
    /// The user's tag in the dialog (From-tag of an INVITE the user sent, To-tag of one it answered), once
    /// known.
    pub local_tag: Option<String>,
    /// The other party's tag, once known.
    pub remote_tag: Option<String>,
    /// Whether the user called (`Initiator`) or was called (`Recipient`).
    pub direction: Direction,
    /// The dialog's new state.
    pub state: DialogState,
    /// Why it ended, for `Terminated`.
    pub event: Option<DialogEvent>,
    /// The final status that ended it, when it was refused.
    pub code: Option<u16>,
    /// The other party's URI.
    pub remote: Option<String>,
}

impl CallReport {
    /// A report that the call the stack names `key` is now in `state`.
    pub fn new(key: &str, direction: Direction, state: DialogState) -> Self {
        Self {
            key: key.to_owned(),
            call_id: None,
            local_tag: None,
            remote_tag: None,
            direction,
            state,
            event: None,
            code: None,
            remote: None,
        }
    }

    /// Set the dialog's Call-ID.
    #[must_use]
    pub fn call_id(mut self, call_id: &str) -> Self {
        self.call_id = Some(call_id.to_owned());
        self
    }

    /// Set the tags.
    #[must_use]
    pub fn tags(mut self, local: Option<&str>, remote: Option<&str>) -> Self {
        self.local_tag = local.map(str::to_owned);
        self.remote_tag = remote.map(str::to_owned);
        self
    }

    /// Set the other party's URI.
    #[must_use]
    pub fn remote(mut self, uri: &str) -> Self {
        self.remote = Some(uri.to_owned());
        self
    }

    /// Set why the call ended.
    #[must_use]
    pub const fn ended(mut self, event: DialogEvent, code: Option<u16>) -> Self {
        self.event = Some(event);
        self.code = code;
        self
    }

    /// The dialog element watchers see. Its id is a hash of the call's key, the same on every node and
    /// across restarts, and revealing nothing of the key.
    pub fn to_dialog(&self) -> Dialog {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.key.hash(&mut h);
        let mut d = Dialog::new(&format!("{:016x}", h.finish()), self.state);
        d.call_id.clone_from(&self.call_id);
        d.local_tag.clone_from(&self.local_tag);
        d.remote_tag.clone_from(&self.remote_tag);
        d.direction = Some(self.direction);
        d.event = self.event;
        d.code = self.code;
        d.remote = self.remote.as_ref().map(|uri| {
            let mut p = DialogParticipant::default();
            p.identity = Some(uri.clone());
            p
        });
        d
    }
}

impl<L: LocationStore + 'static, P: PresenceStore + 'static> RegistrarService<L, P> {
    /// The SIP stack reports a change of one of `aor`'s calls: the user's dialog state (`dialog`, RFC 4235)
    /// changes and its BLF watchers are notified; while one of the user's calls is confirmed, the user's
    /// composed presence shows the configured RPID activity (`on-the-phone` by default), and what the user
    /// published before comes back when the last call ends. A `Terminated` report removes the call.
    ///
    /// # Errors
    /// A store failure; nothing changed then.
    pub async fn report_call(&self, aor: &Aor, report: &CallReport) -> Result<(), Error> {
        let now = self.now();
        let r = self
            .inner
            .presences
            .report_call(
                now,
                aor,
                &report.to_dialog(),
                self.inner.call_activity.as_deref(),
                self.inner.call_state_expires,
            )
            .await?;
        let mut intents = Vec::new();
        let mut events = Vec::new();
        if let Some(b) = &r.dialogs {
            intents.extend(self.fan_out_event(aor, b, now));
        }
        if let Some(composed) = &r.presence {
            events.push(RegistrarEvent::PresenceChanged {
                aor: aor.clone(),
                pidf: composed.xml.clone(),
            });
            intents.extend(self.fan_out(aor, &composed.xml, now).await);
        }
        self.inner.bus.publish_batch(now, events);
        if !intents.is_empty() {
            self.deliver(intents).await;
        }
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Set `aor`'s message summary without SIP (a voicemail system over HTTP): the summary every
    /// `message-summary` subscriber of the mailbox receives, as if published with `Expires: expires`.
    ///
    /// # Errors
    /// A store failure, or an expiry outside the policy (423).
    pub async fn set_message_summary(
        &self,
        aor: &Aor,
        summary: &MessageSummary,
        expires: u32,
    ) -> Result<PublishResult, Error> {
        let now = self.now();
        let r = self
            .inner
            .presences
            .set_message_summary(now, aor, summary, expires)
            .await?;
        self.published(aor, &r, now).await;
        Ok(r)
    }

    /// `aor`'s composed message summary (`Messages-Waiting: no` when nothing was published).
    ///
    /// # Errors
    /// A store failure.
    pub async fn message_summary(&self, aor: &Aor) -> Result<MessageSummary, Error> {
        Ok(self
            .inner
            .presences
            .message_summary(aor, self.now())
            .await?)
    }

    /// `aor`'s composed dialog state: every dialog its publishers and the SIP stack reported, at version 0
    /// (each subscription numbers its own documents).
    ///
    /// # Errors
    /// A store failure.
    pub async fn dialogs(&self, aor: &Aor) -> Result<DialogInfo, Error> {
        let mut d = self.inner.presences.dialogs(aor, self.now()).await?;
        d.version = "0".to_owned();
        Ok(d)
    }

    /// The NOTIFYs a new composed state of `aor` in a package other than `presence` causes: its watchers,
    /// and for `dialog` the BLF lists holding it.
    pub(super) fn fan_out_event(
        &self,
        aor: &Aor,
        b: &EventBody,
        now: Timestamp,
    ) -> Vec<NotifyIntent> {
        let mut intents = self.inner.subs.notify_event(&b.event, aor, &b.body, now);
        if b.event == EventPackage::Dialog
            && (self.inner.lists.lists_resource(aor)
                || self
                    .inner
                    .buddies
                    .holders_of(aor)
                    .iter()
                    .any(|h| self.inner.lists.has_subscriptions(h)))
        {
            let presence_of = |a: &Aor| self.cached_xml(a);
            let dialogs_of = |a: &Aor| {
                if a == aor {
                    Arc::clone(&b.body)
                } else {
                    self.cached_body(&EventPackage::Dialog, a)
                }
            };
            let ctx = ListContext::new(&self.inner.buddies, &self.inner.subs, &presence_of)
                .with_dialogs(&dialogs_of);
            intents.extend(
                self.inner
                    .lists
                    .buddy_changed_in(now, &EventPackage::Dialog, aor, ctx),
            );
        }
        intents
    }

    /// Read the dialog state of every buddy on the list `list_uri` names into the cache, so that a
    /// full-state BLF list NOTIFY shows what the store holds.
    pub(super) async fn warm_dialogs(&self, list_uri: &Aor, now: Timestamp) -> Result<(), Error> {
        let Some(owner) = self.inner.buddies.owner_of_list(list_uri) else {
            return Ok(());
        };
        let uris: Vec<Aor> = self
            .inner
            .buddies
            .list(&owner)
            .into_iter()
            .map(|b| b.uri)
            .collect();
        self.warm_dialogs_of(&uris, now).await
    }

    /// Read the dialog state of each of `aors` into the cache.
    pub(super) async fn warm_dialogs_of(&self, aors: &[Aor], now: Timestamp) -> Result<(), Error> {
        for a in aors {
            self.inner
                .presences
                .event_body(&EventPackage::Dialog, a, now)
                .await?;
        }
        Ok(())
    }

    /// The current state of `aor` in `event`, for a NOTIFY: the cached composition, or what a presentity
    /// with no publication has.
    pub(super) fn cached_body(&self, event: &EventPackage, aor: &Aor) -> Arc<str> {
        match event {
            EventPackage::Presence => self.cached_xml(aor),
            EventPackage::Dialog | EventPackage::MessageSummary => self
                .inner
                .presences
                .cached_event(event, aor)
                .unwrap_or_else(|| {
                    Arc::from(match event {
                        EventPackage::Dialog => {
                            registrar_presence::compose_dialogs(aor, &[], self.now()).to_xml()
                        }
                        _ => MessageSummary::from_counts(None, Vec::new()).to_text(),
                    })
                }),
            _ => Arc::from(""),
        }
    }

    /// The body the first NOTIFY of a subscription to `aor` in `event` carries.
    pub(super) async fn body_for(
        &self,
        event: &EventPackage,
        aor: &Aor,
        now: Timestamp,
    ) -> Result<Arc<str>, Error> {
        Ok(match event {
            EventPackage::Dialog | EventPackage::MessageSummary => {
                self.inner.presences.event_body(event, aor, now).await?
            }
            _ => self.inner.presences.presence(aor, now).await?.xml.clone(),
        })
    }
}
