//! Buddy lists: who a user wants to watch, kept by the server, and their presence in one call.

use std::sync::Arc;

use dashmap::DashMap;
use registrar_types::{Aor, Timestamp};

use crate::Error;
use crate::server::{ComposedPresence, Presences};
use crate::store::PresenceStore;
use crate::subscribe::WatcherDecision;
use crate::watchers::Subscriptions;

/// What follows a user's name in the URI of their buddy list.
pub const DEFAULT_LIST_SUFFIX: &str = "-buddies";

/// One entry of a buddy list.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct Buddy {
    /// The buddy's address-of-record.
    pub uri: Aor,
    /// The name the owner gave the buddy.
    pub display_name: Option<String>,
    /// The owner's group for the buddy ("Team", "Family").
    pub group: Option<String>,
}

impl Buddy {
    /// A buddy without name or group.
    pub const fn new(uri: Aor) -> Self {
        Self {
            uri,
            display_name: None,
            group: None,
        }
    }

    /// Set the display name.
    #[must_use]
    pub fn named(mut self, name: &str) -> Self {
        self.display_name = Some(name.to_owned());
        self
    }

    /// Set the group.
    #[must_use]
    pub fn in_group(mut self, group: &str) -> Self {
        self.group = Some(group.to_owned());
        self
    }
}

/// What an owner sees of one buddy, according to the buddy's watcher rules for the owner.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum BuddyPresence {
    /// The buddy's composed presence.
    Visible(Arc<ComposedPresence>),
    /// The buddy has not decided about the owner yet: no presence is shown.
    Pending,
    /// The owner may not see the buddy (blocked or politely blocked): shown as closed.
    Closed,
}

/// Buddy lists of every user, with the reverse index from a buddy to the lists that hold it.
#[derive(Debug)]
pub struct BuddyLists {
    lists: DashMap<Aor, Vec<Buddy>>,
    holders: DashMap<Aor, Vec<Aor>>,
    domain_members: DashMap<String, Vec<Aor>>,
    joined: DashMap<Aor, ()>,
    max_per_list: usize,
    list_suffix: String,
}

impl Default for BuddyLists {
    fn default() -> Self {
        Self::new(1000)
    }
}

impl BuddyLists {
    /// Empty lists holding at most `max_per_list` buddies each.
    pub fn new(max_per_list: usize) -> Self {
        Self {
            lists: DashMap::new(),
            holders: DashMap::new(),
            domain_members: DashMap::new(),
            joined: DashMap::new(),
            max_per_list,
            list_suffix: DEFAULT_LIST_SUFFIX.to_owned(),
        }
    }

    /// Use `suffix` for the users' list URIs instead of `-buddies` (see [`list_uri`](Self::list_uri)).
    ///
    /// # Errors
    /// [`Error::InvalidPolicy`] for an empty suffix or one with characters other than letters, digits, `-`,
    /// `_` and `.`.
    pub fn with_list_suffix(mut self, suffix: &str) -> Result<Self, Error> {
        let valid = !suffix.is_empty()
            && suffix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid {
            return Err(Error::InvalidPolicy(
                "the buddy list suffix must be letters, digits, '-', '_' or '.'",
            ));
        }
        self.list_suffix = suffix.to_owned();
        Ok(self)
    }

    /// The URI of `owner`'s buddy list as a resource list (RFC 4662): the owner's user part followed by the
    /// suffix (`-buddies` by default), at the owner's host — `sip:alice@example.com` has
    /// `sip:alice-buddies@example.com`. `None` for an AoR without user part.
    pub fn list_uri(&self, owner: &Aor) -> Option<Aor> {
        let user = owner.user()?;
        format!("sip:{user}{}@{}", self.list_suffix, owner.hostport())
            .parse()
            .ok()
    }

    /// The owner of the list that `uri` names, if `uri` has the form of a list URI (whether or not the list
    /// holds anyone yet).
    pub fn owner_of_list(&self, uri: &Aor) -> Option<Aor> {
        let user = uri.user()?.strip_suffix(self.list_suffix.as_str())?;
        if user.is_empty() {
            return None;
        }
        format!("sip:{user}@{}", uri.hostport()).parse().ok()
    }

    /// Add `buddy` to `owner`'s list, or update its name and group if it is already there. Returns whether it
    /// was added.
    ///
    /// # Errors
    /// [`Error::TooManyBuddies`] when the list is full.
    pub fn add(&self, owner: &Aor, buddy: Buddy) -> Result<bool, Error> {
        let mut list = self.lists.entry(owner.clone()).or_default();
        if let Some(existing) = list.iter_mut().find(|b| b.uri == buddy.uri) {
            *existing = buddy;
            return Ok(false);
        }
        if list.len() >= self.max_per_list {
            return Err(Error::TooManyBuddies {
                max: self.max_per_list,
            });
        }
        self.holders
            .entry(buddy.uri.clone())
            .or_default()
            .push(owner.clone());
        list.push(buddy);
        Ok(true)
    }

    /// Remove `uri` from `owner`'s list. Returns whether it was there.
    pub fn remove(&self, owner: &Aor, uri: &Aor) -> bool {
        let removed = self.lists.get_mut(owner).is_some_and(|mut list| {
            let before = list.len();
            list.retain(|b| &b.uri != uri);
            list.len() != before
        });
        if removed {
            if let Some(mut h) = self.holders.get_mut(uri) {
                h.retain(|o| o != owner);
            }
            self.holders.remove_if(uri, |_, h| h.is_empty());
            self.lists.remove_if(owner, |_, l| l.is_empty());
        }
        removed
    }

    /// Put back an entry a durable store kept (at start-up): like [`Self::add`], without the list's limit
    /// (what was accepted once stays).
    pub fn restore(&self, owner: &Aor, buddy: Buddy) {
        let mut list = self.lists.entry(owner.clone()).or_default();
        if let Some(existing) = list.iter_mut().find(|b| b.uri == buddy.uri) {
            *existing = buddy;
            return;
        }
        self.holders
            .entry(buddy.uri.clone())
            .or_default()
            .push(owner.clone());
        list.push(buddy);
    }

    /// Make `owner`'s list exactly `list` (as another node stored it); the buddies added or renamed and the
    /// buddies removed.
    pub fn replace(&self, owner: &Aor, list: Vec<Buddy>) -> (Vec<Aor>, Vec<Aor>) {
        let old = self.list(owner);
        let removed: Vec<Aor> = old
            .iter()
            .filter(|b| !list.iter().any(|n| n.uri == b.uri))
            .map(|b| b.uri.clone())
            .collect();
        let changed: Vec<Aor> = list
            .iter()
            .filter(|n| !old.contains(n))
            .map(|n| n.uri.clone())
            .collect();
        for uri in &removed {
            self.remove(owner, uri);
        }
        for b in list {
            self.restore(owner, b);
        }
        (changed, removed)
    }

    /// Everyone who has a list.
    pub fn owners(&self) -> Vec<Aor> {
        self.lists.iter().map(|e| e.key().clone()).collect()
    }

    /// Whether `user` joined its domain's automatic lists.
    pub fn has_joined(&self, user: &Aor) -> bool {
        self.joined.contains_key(user)
    }

    /// Record that `user` joined its domain's automatic lists, without pairing anyone (at start-up, or when
    /// another node paired it): later members of the domain are paired with it.
    pub fn restore_joined(&self, user: &Aor) {
        if self.joined.insert(user.clone(), ()).is_some() {
            return;
        }
        self.domain_members
            .entry(user.domain().to_ascii_lowercase())
            .or_default()
            .push(user.clone());
    }

    /// `owner`'s buddies in the order they were added.
    pub fn list(&self, owner: &Aor) -> Vec<Buddy> {
        self.lists.get(owner).map(|l| l.clone()).unwrap_or_default()
    }

    /// The entry for `uri` on `owner`'s list, if it is there.
    pub fn get(&self, owner: &Aor, uri: &Aor) -> Option<Buddy> {
        self.lists
            .get(owner)
            .and_then(|l| l.iter().find(|b| &b.uri == uri).cloned())
    }

    /// The owners whose lists hold `buddy`: who must hear when its presence changes.
    pub fn holders_of(&self, buddy: &Aor) -> Vec<Aor> {
        self.holders
            .get(buddy)
            .map(|h| h.clone())
            .unwrap_or_default()
    }

    /// Automatic buddy lists: when `user` registers for the first time, it and every known user of its domain
    /// are added to each other's lists (the first `max_per_list` members of the domain, so the work per user
    /// is bounded). Calling it again for the same user changes nothing. Returns the users newly paired with
    /// `user`.
    pub fn join_domain(&self, user: &Aor) -> Vec<Aor> {
        if self.joined.insert(user.clone(), ()).is_some() {
            return Vec::new();
        }
        let mut members = self
            .domain_members
            .entry(user.domain().to_ascii_lowercase())
            .or_default();
        let mut paired = Vec::new();
        // Bounded work: the new user's list holds at most `max_per_list` buddies, so at most that many of the
        // domain's members are paired with it.
        for other in members.iter().take(self.max_per_list) {
            // A full list simply stops growing; the pairing is best effort.
            let a = self.add(user, Buddy::new(other.clone())).unwrap_or(false);
            let b = self.add(other, Buddy::new(user.clone())).unwrap_or(false);
            if a || b {
                paired.push(other.clone());
            }
        }
        members.push(user.clone());
        paired
    }

    /// The presence of every buddy of `owner` in one call, each as the buddy's watcher rules let the owner
    /// see it: blocked or politely blocked buddies show as closed, undecided ones as pending.
    ///
    /// # Errors
    /// A presence store failure.
    pub async fn presence_of_list<S: PresenceStore>(
        &self,
        owner: &Aor,
        presences: &Presences<S>,
        subscriptions: &Subscriptions,
        now: Timestamp,
    ) -> Result<Vec<(Buddy, BuddyPresence)>, Error> {
        let mut out = Vec::new();
        for buddy in self.list(owner) {
            let view = match subscriptions.decision(&buddy.uri, owner) {
                WatcherDecision::Allow => {
                    BuddyPresence::Visible(presences.presence(&buddy.uri, now).await?)
                }
                WatcherDecision::Confirm => BuddyPresence::Pending,
                // Block, polite block, and any decision added later: never the real state.
                _ => BuddyPresence::Closed,
            };
            out.push((buddy, view));
        }
        Ok(out)
    }
}
