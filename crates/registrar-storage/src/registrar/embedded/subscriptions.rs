//! What the presence server keeps for its users, written to the data file and read back once at start-up:
//! subscriptions (table `subscriptions`, one record per dialog) and, in table `presence_state`, buddy list
//! subscriptions (`l\n<dialog>`), watcher decisions (`r\n<presentity>\n<watcher>`), buddy lists
//! (`b\n<owner>`: the whole list, in order) and the members of automatic lists (`j\n<user>`).

use std::sync::Arc;

use async_trait::async_trait;
use registrar_presence::{
    Buddy, Error as PresenceError, StoredPresence, SubscriptionChange, SubscriptionStore,
    WatcherDecision,
};
use registrar_types::Aor;

use crate::codec::{
    decode_buddies, decode_decision, decode_subscription, dialog_key, encode_buddies,
    encode_decision, encode_subscription,
};
use crate::journal::{Journal, Table};

/// A [`SubscriptionStore`] in the data file, committed with the group commit of the other tables. Memory
/// (the presence layer's `Subscriptions`, `ResourceLists`, `BuddyLists`) serves every read.
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

/// The key of `presentity`'s decision about `watcher`.
pub(crate) fn rule_key(presentity: &Aor, watcher: &Aor) -> String {
    format!("{presentity}\n{watcher}")
}

/// The table, key and record of one change (`None` for a change this engine does not know).
fn record(c: &SubscriptionChange) -> Option<(Table, String, Option<Vec<u8>>)> {
    Some(match c {
        SubscriptionChange::Put(s) => (
            Table::Subscriptions,
            dialog_key(&s.dialog),
            Some(encode_subscription(s)),
        ),
        SubscriptionChange::Remove(d) => (Table::Subscriptions, dialog_key(d), None),
        SubscriptionChange::PutList(s) => (
            Table::PresenceState,
            format!("l\n{}", dialog_key(&s.dialog)),
            Some(encode_subscription(s)),
        ),
        SubscriptionChange::RemoveList(d) => {
            (Table::PresenceState, format!("l\n{}", dialog_key(d)), None)
        }
        SubscriptionChange::Rule {
            presentity,
            watcher,
            decision,
        } => (
            Table::PresenceState,
            format!("r\n{}", rule_key(presentity, watcher)),
            Some(encode_decision(*decision)),
        ),
        SubscriptionChange::Buddies { owner, list } => (
            Table::PresenceState,
            format!("b\n{owner}"),
            (!list.is_empty()).then(|| encode_buddies(list)),
        ),
        SubscriptionChange::Joined(user) => {
            (Table::PresenceState, format!("j\n{user}"), Some(Vec::new()))
        }
        _ => return None,
    })
}

fn aor(s: &str) -> Result<Aor, crate::Error> {
    s.parse()
        .map_err(|_| crate::Error::Corrupt(format!("{s:?} is not an address-of-record")))
}

#[async_trait]
impl SubscriptionStore for EmbeddedSubscriptionStore {
    async fn save(&self, changes: &[SubscriptionChange]) -> Result<(), PresenceError> {
        // One frame: after a crash, all of them are back or none.
        let batch: Vec<_> = changes.iter().filter_map(record).collect();
        let ack = self.journal.queue_batch(batch).map_err(storage)?;
        Journal::durable(ack).await.map_err(storage)
    }

    async fn load(&self) -> Result<StoredPresence, PresenceError> {
        let mut out = StoredPresence::default();
        self.journal
            .scan(Table::Subscriptions, |_, bytes| {
                out.subscriptions.push(decode_subscription(bytes)?);
                Ok(())
            })
            .await
            .map_err(storage)?;
        self.journal
            .scan(Table::PresenceState, |key, bytes| {
                let (kind, rest) = key.split_once('\n').unwrap_or((key, ""));
                match kind {
                    "l" => out.lists.push(decode_subscription(bytes)?),
                    "r" => {
                        let (p, w) = rest.split_once('\n').unwrap_or((rest, ""));
                        out.rules.push((aor(p)?, aor(w)?, decode_decision(bytes)?));
                    }
                    "b" => out.buddies.push((aor(rest)?, decode_buddies(bytes)?)),
                    "j" => out.joined.push(aor(rest)?),
                    _ => return Err(crate::Error::Corrupt(format!("presence state key {key:?}"))),
                }
                Ok(())
            })
            .await
            .map_err(storage)?;
        Ok(out)
    }

    async fn rules_of(
        &self,
        presentity: &Aor,
    ) -> Result<Vec<(Aor, WatcherDecision)>, PresenceError> {
        let prefix = format!("r\n{presentity}\n");
        self.journal
            .prefix(Table::PresenceState, &prefix, false, usize::MAX)
            .await
            .map_err(storage)?
            .into_iter()
            .map(|(k, v)| Ok((aor(&k[prefix.len()..])?, decode_decision(&v)?)))
            .collect::<Result<_, crate::Error>>()
            .map_err(storage)
    }

    async fn buddies_of(&self, owner: &Aor) -> Result<Vec<Buddy>, PresenceError> {
        self.journal.checkpoint().await.map_err(storage)?;
        match self
            .journal
            .get_now(Table::PresenceState, &format!("b\n{owner}"))
            .map_err(storage)?
        {
            Some(v) => decode_buddies(&v).map_err(storage),
            None => Ok(Vec::new()),
        }
    }
}
