//! A registered user is available: the PBX publishes `open` for every user with a live binding, and removes
//! it with the last one (what Kamailio's `pua_usrloc` does for its users).
//!
//! Desk phones and softphones seldom PUBLISH; without this, a watcher of a user who never published would see
//! nothing until the first call. A phone that does PUBLISH (to the presence port) adds its own publication;
//! the registrar composes both. While a call is established the registrar adds the `on-the-phone` activity
//! from the call state the PBX reports ([`crate::calls`]).

use std::collections::HashMap;

use registrar_core::events::{Delivery, EventFilter, EventKind, RegistrarEvent};
use registrar_core::presence::{PresenceStore, PublishRequest};
use registrar_core::registry::LocationStore;
use registrar_core::service::RegistrarService;
use registrar_core::types::{Aor, ETag};

/// The PIDF document published for a registered user.
pub fn open_document(aor: &Aor) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"{aor}\">\
         <tuple id=\"pbx-registered\"><status><basic>open</basic></status></tuple></presence>"
    )
}

/// Follow registrations of `svc` and keep one publication per registered user, each expiring with the user's
/// longest-lived binding. Runs until the service's event bus is gone.
pub async fn follow<L, P>(svc: RegistrarService<L, P>)
where
    L: LocationStore + 'static,
    P: PresenceStore + 'static,
{
    let mut events = svc.events(EventFilter::all().kinds(&[EventKind::Registration]));
    let mut etags: HashMap<Aor, ETag> = HashMap::new();
    while let Some(d) = events.next().await {
        let aors: Vec<Aor> = match d {
            Delivery::Events(batch) => batch
                .iter()
                .filter_map(|e| match &e.event {
                    RegistrarEvent::RegistrationAdded { aor, .. }
                    | RegistrarEvent::RegistrationRefreshed { aor, .. }
                    | RegistrarEvent::RegistrationUpdated { aor, .. }
                    | RegistrarEvent::RegistrationRemoved { aor, .. }
                    | RegistrarEvent::RegistrationExpired { aor, .. } => Some(aor.clone()),
                    _ => None,
                })
                .collect(),
            // Fell behind: bring every user followed so far up to date.
            _ => etags.keys().cloned().collect(),
        };
        for aor in aors {
            update(&svc, &mut etags, aor).await;
        }
    }
}

async fn update<L, P>(svc: &RegistrarService<L, P>, etags: &mut HashMap<Aor, ETag>, aor: Aor)
where
    L: LocationStore + 'static,
    P: PresenceStore + 'static,
{
    let now = svc.now();
    let longest = match svc.lookup(&aor).await {
        Ok(b) => b.iter().map(|b| b.expires_in(now)).max(),
        Err(e) => {
            tracing::warn!("presence of {aor}: bindings unreadable: {e}");
            return;
        }
    };
    let req = match (longest, etags.remove(&aor)) {
        (Some(secs), None) => PublishRequest::initial(aor.clone(), open_document(&aor).as_bytes())
            .expires(secs.clamp(1, u64::from(u32::MAX)) as u32),
        // The document never changes: a refresh (no body) extends it without notifying anybody.
        (Some(secs), Some(etag)) => PublishRequest::refresh(aor.clone(), etag)
            .expires(secs.clamp(1, u64::from(u32::MAX)) as u32),
        (None, Some(etag)) => PublishRequest::remove(aor.clone(), etag),
        (None, None) => return,
    };
    let refresh = req.if_match.is_some() && longest.is_some();
    let mut result = svc.publish(&req).await;
    if refresh && result.is_err() {
        // The publication is gone (it expired, or an operator removed it: 412): publish it anew.
        let secs = longest.unwrap_or(1).clamp(1, u64::from(u32::MAX)) as u32;
        let again =
            PublishRequest::initial(aor.clone(), open_document(&aor).as_bytes()).expires(secs);
        result = svc.publish(&again).await;
    }
    match result {
        Ok(r) => {
            if let Some(etag) = r.outcome.etag {
                etags.insert(aor, etag);
            }
        }
        Err(e) => tracing::warn!("presence of {aor}: {e}"),
    }
}
