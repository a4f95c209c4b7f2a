//! The configured senders behind one [`PushSender`].

use std::sync::Arc;

use async_trait::async_trait;
use registrar_service::push::{Push, PushFailure, PushSender};
use registrar_types::{PN_PROVIDER, PushParamError, PushProvider, PushTarget};

/// Every configured sender, each for the providers it names; a push goes to the sender of its provider.
#[derive(Default)]
pub struct Senders {
    senders: Vec<(PushProvider, Arc<dyn PushSender>)>,
}

impl std::fmt::Debug for Senders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.senders.iter().map(|(p, _)| p.as_str()))
            .finish()
    }
}

impl Senders {
    /// No sender.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `sender` for the providers it names (a provider named twice goes to the sender added last).
    #[must_use]
    pub fn with(mut self, sender: Arc<dyn PushSender>) -> Self {
        for p in sender.providers() {
            self.senders.retain(|(q, _)| *q != p);
            self.senders.push((p, Arc::clone(&sender)));
        }
        self
    }

    /// Whether no sender is configured.
    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }

    fn of(&self, p: &PushProvider) -> Option<&Arc<dyn PushSender>> {
        self.senders.iter().find(|(q, _)| q == p).map(|(_, s)| s)
    }
}

#[async_trait]
impl PushSender for Senders {
    fn providers(&self) -> Vec<PushProvider> {
        self.senders.iter().map(|(p, _)| p.clone()).collect()
    }

    fn check(&self, target: &PushTarget) -> Result<(), PushParamError> {
        self.of(&target.provider)
            .ok_or_else(|| PushParamError::new(PN_PROVIDER, "not supported here"))?
            .check(target)
    }

    fn vapid_public_key(&self) -> Option<String> {
        self.senders.iter().find_map(|(_, s)| s.vapid_public_key())
    }

    async fn send(&self, push: &Push) -> Result<(), PushFailure> {
        match self.of(&push.target.provider) {
            Some(s) => s.send(push).await,
            None => Err(PushFailure::NotConfigured(push.target.provider.to_string())),
        }
    }
}
