//! Subscriptions written to the data file, read back once at start-up.

use std::sync::Arc;

use async_trait::async_trait;
use registrar_presence::{
    Error as PresenceError, Subscription, SubscriptionChange, SubscriptionStore,
};

use crate::codec::{decode_subscription, dialog_key, encode_subscription};
use crate::journal::{Journal, Table};

/// A [`SubscriptionStore`] in the data file: one record per subscription dialog, committed with the group
/// commit of the other tables. Memory (the presence layer's `Subscriptions`) serves every read.
#[derive(Debug)]
pub struct EmbeddedSubscriptionStore {
    journal: Arc<Journal>,
}

impl EmbeddedSubscriptionStore {
    /// The subscriptions of `journal`'s file.
    pub const fn new(journal: Arc<Journal>) -> Self {
        Self { journal }
    }
}

fn storage(e: crate::Error) -> PresenceError {
    PresenceError::Storage(e.boxed())
}

#[async_trait]
impl SubscriptionStore for EmbeddedSubscriptionStore {
    async fn save(&self, changes: &[SubscriptionChange]) -> Result<(), PresenceError> {
        let mut acks = Vec::with_capacity(changes.len());
        for c in changes {
            let (key, value) = match c {
                SubscriptionChange::Put(s) => (dialog_key(&s.dialog), Some(encode_subscription(s))),
                SubscriptionChange::Remove(d) => (dialog_key(d), None),
                // A change this engine does not know: nothing to write.
                _ => continue,
            };
            acks.push(
                self.journal
                    .queue(Table::Subscriptions, &key, value)
                    .map_err(storage)?,
            );
        }
        for a in acks {
            Journal::durable(a).await.map_err(storage)?;
        }
        Ok(())
    }

    async fn load(&self) -> Result<Vec<Subscription>, PresenceError> {
        let mut out = Vec::new();
        self.journal
            .scan(Table::Subscriptions, |_, bytes| {
                out.push(decode_subscription(bytes)?);
                Ok(())
            })
            .await
            .map_err(storage)?;
        Ok(out)
    }
}
