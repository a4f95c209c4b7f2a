//! Push notifications (RFC 8599): the checks of a REGISTER's push parameters, waking devices before a
//! request is forked to them, and re-registration pushes before bindings of sleeping devices expire.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::time::Instant;

use registrar_registry::ContactEntry;
use registrar_types::{PN_PARAM, PN_PRID, PN_PROVIDER, PushProvider, PushTarget, SipUri};

use super::*;
use crate::push::{FlowProbe, Push, PushFailure, PushKind, PushPolicy, PushSender, Reach};

/// Re-registration pushes due, by (when, sequence): the AoR, the contact and the expiry it was planned for.
type RefreshPlan = BTreeMap<(Timestamp, u64), (Aor, SipUri, Timestamp)>;

/// The service's push state, when a sender is configured.
pub(super) struct PushState {
    pub(super) sender: Arc<dyn PushSender>,
    pub(super) policy: PushPolicy,
    providers: Vec<PushProvider>,
    vapid: Option<String>,
    probe: OnceLock<Arc<dyn FlowProbe>>,
    /// Waits in progress, by AoR: a REGISTER of the AoR bumps the counter.
    waiters: Mutex<HashMap<Aor, watch::Sender<u64>>>,
    /// Re-registration pushes due.
    refresh: Mutex<RefreshPlan>,
    seq: AtomicU64,
    ids: std::hash::RandomState,
}

impl PushState {
    pub(super) fn new(sender: Arc<dyn PushSender>, policy: PushPolicy) -> Self {
        let mut providers = sender.providers();
        providers.sort();
        providers.dedup();
        let vapid = sender.vapid_public_key();
        Self {
            sender,
            policy,
            providers,
            vapid,
            probe: OnceLock::new(),
            waiters: Mutex::new(HashMap::new()),
            refresh: Mutex::new(BTreeMap::new()),
            seq: AtomicU64::new(0),
            ids: std::hash::RandomState::new(),
        }
    }

    fn supports(&self, p: &PushProvider) -> bool {
        self.providers.contains(p)
    }

    /// A fresh push id in the UUID form APNs wants for `apns-id`.
    fn next_id(&self) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let half = |salt: u64| {
            let mut h = self.ids.build_hasher();
            h.write_u64(n);
            h.write_u64(salt);
            h.finish()
        };
        let v = (u128::from(half(1)) << 64) | u128::from(half(2));
        let s = format!("{v:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &s[..8],
            &s[8..12],
            &s[12..16],
            &s[16..20],
            &s[20..]
        )
    }

    fn lock_refresh(&self) -> std::sync::MutexGuard<'_, RefreshPlan> {
        self.refresh.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether `b` (live, pushed at `sent`) shows that the device of `pushed` registered after the push: a
/// binding refreshed since then with the same contact, the same `+sip.instance`, or the same push address.
fn same_device_refreshed(b: &Binding, pushed: &Binding, sent: Timestamp) -> bool {
    // A REGISTER since the push: not before it, and not the one the pushed binding came from (every new
    // REGISTER has another Call-ID or a higher CSeq).
    if b.last_refresh < sent || (b.call_id == pushed.call_id && b.cseq == pushed.cseq) {
        return false;
    }
    if b.contact == pushed.contact {
        return true;
    }
    if let (Some(a), Some(p)) = (&b.instance_id, &pushed.instance_id) {
        return a == p;
    }
    match (b.push_target(), pushed.push_target()) {
        (Some(a), Some(p)) => a.prid.is_some() && a.provider == p.provider && a.prid == p.prid,
        _ => false,
    }
}

impl<L: LocationStore + 'static, P: PresenceStore + 'static> RegistrarService<L, P> {
    /// Whether push notifications are configured.
    pub fn push_enabled(&self) -> bool {
        self.inner.push.is_some()
    }

    /// Tell the service which devices have a live flow (a connection still open), so that [`Self::reach`]
    /// pushes only the others. Without a probe every device with push parameters is pushed. Set once; a
    /// second call is ignored.
    pub fn set_flow_probe(&self, probe: Arc<dyn FlowProbe>) {
        if let Some(p) = &self.inner.push {
            let _ = p.probe.set(probe);
        }
    }

    /// Check the push parameters of a REGISTER's Contacts (RFC 8599 §5.3) before it is applied: with push
    /// configured, a contact naming a service this server does not push through is refused with 555 and the
    /// supported list, malformed parameters with 400 naming the parameter. De-registrations are not checked
    /// (RFC 8599 §4.1.2 has the UA drop `pn-prid` from them). Without push configured the parameters are
    /// kept in the Contact like any other and nothing is checked.
    ///
    /// # Errors
    /// [`Error::PushNotSupported`] or [`Error::InvalidPushParam`].
    pub fn check_push_params(&self, req: &RegisterRequest) -> Result<(), Error> {
        let Some(push) = &self.inner.push else {
            return Ok(());
        };
        for c in &req.contacts {
            let ContactEntry::Contact(spec) = c else {
                continue;
            };
            if spec.expires.or(req.expires) == Some(0) {
                continue;
            }
            let Some(target) = PushTarget::from_uri(&spec.uri).map_err(Error::InvalidPushParam)?
            else {
                continue;
            };
            if !push.supports(&target.provider) {
                return Err(Error::PushNotSupported {
                    provider: target.provider.to_string(),
                    supported: push.providers.iter().map(ToString::to_string).collect(),
                });
            }
            if target.is_reachable() {
                push.sender
                    .check(&target)
                    .map_err(Error::InvalidPushParam)?;
            }
        }
        Ok(())
    }

    /// The `Feature-Caps` value for the 2xx to `req` (RFC 8599 §5.3, RFC 6809), when one of its Contacts
    /// names a push service this server supports: `+sip.pns` naming it, `+sip.pnsreg` with the seconds before
    /// expiry a device that refreshes by itself should refresh (when it declared `+sip.pnsreg`), and
    /// `+sip.vapid` with the VAPID public key for Web Push.
    pub fn push_feature_caps(&self, req: &RegisterRequest) -> Option<String> {
        let push = self.inner.push.as_ref()?;
        let mut pns: Vec<PushProvider> = Vec::new();
        let mut pnsreg = false;
        for c in &req.contacts {
            let ContactEntry::Contact(spec) = c else {
                continue;
            };
            if let Ok(Some(t)) = PushTarget::from_uri(&spec.uri)
                && push.supports(&t.provider)
            {
                pnsreg |= spec.pnsreg;
                if !pns.contains(&t.provider) {
                    pns.push(t.provider);
                }
            }
        }
        if pns.is_empty() {
            return None;
        }
        let names: Vec<&str> = pns.iter().map(PushProvider::as_str).collect();
        let mut v = format!("*;+sip.pns=\"{}\"", names.join(","));
        if pnsreg {
            v.push_str(&format!(";+sip.pnsreg=\"{}\"", push.policy.pnsreg_secs));
        }
        if pns.contains(&PushProvider::WebPush)
            && let Some(k) = &push.vapid
        {
            v.push_str(&format!(";+sip.vapid=\"{k}\""));
        }
        Some(v)
    }

    /// A REGISTER of `aor` was applied: wake the waits on it, and plan re-registration pushes for its push
    /// bindings that cannot refresh by themselves.
    pub(super) fn push_registered(&self, aor: &Aor, changes: &[BindingChange], now: Timestamp) {
        let Some(push) = &self.inner.push else {
            return;
        };
        if let Some(w) = push
            .waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(aor)
        {
            w.send_modify(|n| *n += 1);
        }
        let mut earliest = None;
        for c in changes {
            if !matches!(
                c.kind,
                ChangeKind::Added | ChangeKind::Refreshed | ChangeKind::Updated
            ) {
                continue;
            }
            if let Some(due) = self.plan_refresh(push, aor, &c.binding, now) {
                earliest = Some(earliest.map_or(due, |e: Timestamp| e.min(due)));
            }
        }
        if let Some(due) = earliest {
            self.wake_for(due);
        }
    }

    fn plan_refresh(
        &self,
        push: &PushState,
        aor: &Aor,
        b: &Binding,
        now: Timestamp,
    ) -> Option<Timestamp> {
        if b.pnsreg || !b.is_live(now) || !b.push_target().is_some_and(|t| t.is_reachable()) {
            return None;
        }
        let before = u64::from(push.policy.refresh_before_secs) * 1000;
        let left = b.expires_at.as_millis().saturating_sub(now.as_millis());
        // A binding shorter than the lead time is pushed half-way through its life.
        let due = if left > before {
            b.expires_at.as_millis() - before
        } else {
            now.as_millis() + left / 2
        };
        let due = Timestamp::from_millis(due);
        let n = push.seq.fetch_add(1, Ordering::Relaxed);
        push.lock_refresh()
            .insert((due, n), (aor.clone(), b.contact.clone(), b.expires_at));
        Some(due)
    }

    /// Plan the re-registration pushes of every registered binding (after a restart, when the plan kept in
    /// memory was lost). A binding refreshed since is skipped when its push falls due.
    ///
    /// # Errors
    /// A store failure.
    pub async fn plan_push_refreshes(&self) -> Result<usize, Error> {
        let Some(push) = &self.inner.push else {
            return Ok(0);
        };
        let now = self.now();
        let mut after: Option<Aor> = None;
        let mut planned = 0;
        loop {
            let page = self
                .inner
                .registry
                .registered_users(after.as_ref(), 1000)
                .await?;
            for aor in &page {
                for b in self.inner.registry.lookup(aor, now).await?.iter() {
                    planned += usize::from(self.plan_refresh(push, aor, b, now).is_some());
                }
            }
            if page.len() < 1000 {
                break;
            }
            after = page.last().cloned();
        }
        self.inner.wake.notify_one();
        Ok(planned)
    }

    /// When the next re-registration push is due.
    pub(super) fn next_push_refresh(&self) -> Option<Timestamp> {
        let push = self.inner.push.as_ref()?;
        push.lock_refresh().keys().next().map(|(t, _)| *t)
    }

    /// Send the re-registration pushes due at `now` (each from a task of its own: a slow push service never
    /// holds up the sweep). A binding refreshed or removed since its push was planned is skipped.
    pub(super) async fn run_push_refreshes(&self, now: Timestamp) {
        let Some(push) = &self.inner.push else {
            return;
        };
        let due: Vec<(Aor, SipUri, Timestamp)> = {
            let mut plan = push.lock_refresh();
            let later = plan.split_off(&(Timestamp::from_millis(now.as_millis() + 1), 0));
            std::mem::replace(&mut *plan, later).into_values().collect()
        };
        // A binding planned twice (a restart's plan beside the live one) is pushed once.
        let mut seen = std::collections::HashSet::new();
        for (aor, contact, expires_at) in due {
            if !seen.insert((aor.clone(), contact.to_string(), expires_at)) {
                continue;
            }
            let Ok(bindings) = self.inner.registry.lookup(&aor, now).await else {
                continue;
            };
            let Some(b) = bindings
                .iter()
                .find(|b| b.contact == contact && b.expires_at == expires_at)
            else {
                continue;
            };
            let Some(target) = b.push_target().filter(PushTarget::is_reachable) else {
                continue;
            };
            let ttl = Duration::from_millis(expires_at.as_millis().saturating_sub(now.as_millis()));
            let p = Push::new(aor, b, target, PushKind::Refresh, push.next_id(), ttl);
            let me = self.clone();
            tokio::spawn(async move {
                me.send_push(&p).await.ok();
            });
        }
    }

    /// Send one push, count it, and drop the push parameters of a binding whose address the service says is
    /// gone.
    async fn send_push(&self, p: &Push) -> Result<(), PushFailure> {
        let Some(push) = &self.inner.push else {
            return Err(PushFailure::NotConfigured(p.target.provider.to_string()));
        };
        let provider = p.target.provider.to_string();
        let kind = p.kind.as_str();
        match push.sender.send(p).await {
            Ok(()) => {
                metrics::counter!("registrar_push_sent_total", "provider" => provider, "kind" => kind)
                    .increment(1);
                Ok(())
            }
            Err(e) => {
                metrics::counter!("registrar_push_failed_total", "provider" => provider, "reason" => e.reason())
                    .increment(1);
                if e == PushFailure::Unregistered {
                    let contact = p.contact.clone();
                    let strip = move |b: &Binding| {
                        (b.contact == contact).then(|| {
                            let mut n = b.clone();
                            n.contact = n
                                .contact
                                .clone()
                                .without_param(PN_PROVIDER)
                                .without_param(PN_PRID)
                                .without_param(PN_PARAM);
                            n
                        })
                    };
                    // Best effort: on a store failure the next push finds the address gone again.
                    let _ = self
                        .inner
                        .registry
                        .rewrite_where(&p.aor, self.now(), &strip)
                        .await;
                }
                Err(e)
            }
        }
    }

    /// Reach `aor` (RFC 8599 §5.6.2): push every live binding with push parameters whose device has no live
    /// flow, wait — at most `wait`, capped by the policy's `max_wait` — for each to register again, and
    /// return what can be reached then. What a proxy or B2BUA calls before forking an INVITE.
    ///
    /// The bindings returned are the live ones, best first, without those pushed that did not register
    /// (their device sleeps or is gone) and without those a newer binding of the same device replaced.
    /// Without push configured, or with nothing to push, it returns the live bindings at once.
    ///
    /// # Errors
    /// A store failure.
    pub async fn reach(&self, aor: &Aor, wait: Duration) -> Result<Reach, Error> {
        let now = self.now();
        let live = self.inner.registry.lookup(aor, now).await?.to_vec();
        let Some(push) = &self.inner.push else {
            return Ok(Reach {
                bindings: live,
                ..Reach::default()
            });
        };
        let probe = push.probe.get();
        let asleep: Vec<(Binding, PushTarget)> = live
            .iter()
            .filter(|b| !probe.is_some_and(|p| p.alive(b)))
            .filter_map(|b| {
                b.push_target()
                    .filter(|t| t.is_reachable() && push.supports(&t.provider))
                    .map(|t| (b.clone(), t))
            })
            .collect();
        if asleep.is_empty() {
            return Ok(Reach {
                bindings: live,
                ..Reach::default()
            });
        }
        let wait = wait.min(push.policy.max_wait);
        let mut changed = {
            let mut w = push.waiters.lock().unwrap_or_else(PoisonError::into_inner);
            w.entry(aor.clone())
                .or_insert_with(|| watch::channel(0).0)
                .subscribe()
        };
        let started = Instant::now();
        let sent_at = self.now();
        let mut sends = tokio::task::JoinSet::new();
        for (i, (b, t)) in asleep.iter().enumerate() {
            let p = Push::new(
                aor.clone(),
                b,
                t.clone(),
                PushKind::Wake,
                push.next_id(),
                wait,
            );
            let me = self.clone();
            sends.spawn(async move { (i, me.send_push(&p).await) });
        }
        let mut report = Reach {
            pushed: asleep.iter().map(|(b, _)| b.contact.clone()).collect(),
            ..Reach::default()
        };
        // Per pushed binding: None while waiting, Some(Ok(latency)) woken, Some(Err(_)) failed.
        let mut state: Vec<Option<Result<Duration, PushFailure>>> = vec![None; asleep.len()];
        let deadline = tokio::time::Instant::now() + wait;
        let mut current;
        loop {
            while let Some(done) = sends.try_join_next() {
                if let Ok((i, Err(e))) = done
                    && state[i].is_none()
                {
                    state[i] = Some(Err(e));
                }
            }
            let now = self.now();
            current = self.inner.registry.lookup(aor, now).await?.to_vec();
            for (i, (pushed, _)) in asleep.iter().enumerate() {
                if state[i].is_none()
                    && current
                        .iter()
                        .any(|b| same_device_refreshed(b, pushed, sent_at))
                {
                    let took = started.elapsed();
                    metrics::histogram!("registrar_push_wake_seconds").record(took.as_secs_f64());
                    state[i] = Some(Ok(took));
                }
            }
            if state.iter().all(Option::is_some) {
                break;
            }
            tokio::select! {
                _ = changed.changed() => {}
                Some(done) = sends.join_next(), if !sends.is_empty() => {
                    if let Ok((i, Err(e))) = done
                        && state[i].is_none()
                    {
                        state[i] = Some(Err(e));
                    }
                }
                () = tokio::time::sleep(push.policy.recheck) => {}
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        drop(changed);
        {
            let mut w = push.waiters.lock().unwrap_or_else(PoisonError::into_inner);
            if w.get(aor).is_some_and(|tx| tx.receiver_count() == 0) {
                w.remove(aor);
            }
        }
        sends.abort_all();
        let mut gone: Vec<&Binding> = Vec::new();
        for ((b, _), s) in asleep.iter().zip(state) {
            match s {
                Some(Ok(took)) => {
                    metrics::counter!("registrar_push_wakeups_total", "outcome" => "registered")
                        .increment(1);
                    report.woken.push((b.contact.clone(), took));
                    // The device registered anew: its old binding stays only if it is the one refreshed.
                    if !current
                        .iter()
                        .any(|c| c.contact == b.contact && same_device_refreshed(c, b, sent_at))
                    {
                        gone.push(b);
                    }
                }
                Some(Err(e)) => {
                    metrics::counter!("registrar_push_wakeups_total", "outcome" => "failed")
                        .increment(1);
                    report.failed.push((b.contact.clone(), e));
                    gone.push(b);
                }
                None => {
                    metrics::counter!("registrar_push_wakeups_total", "outcome" => "timeout")
                        .increment(1);
                    report.timed_out.push(b.contact.clone());
                    gone.push(b);
                }
            }
        }
        report.bindings = current
            .into_iter()
            .filter(|c| {
                !gone
                    .iter()
                    .any(|g| g.contact == c.contact && !same_device_refreshed(c, g, sent_at))
            })
            .collect();
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use registrar_types::PushParamError;

    #[test]
    fn push_ids_are_uuids_and_distinct() {
        struct Nothing;
        #[async_trait::async_trait]
        impl PushSender for Nothing {
            fn providers(&self) -> Vec<PushProvider> {
                vec![PushProvider::Apns]
            }
            fn check(&self, _: &PushTarget) -> Result<(), PushParamError> {
                Ok(())
            }
            async fn send(&self, _: &Push) -> Result<(), PushFailure> {
                Ok(())
            }
        }
        let s = PushState::new(Arc::new(Nothing), PushPolicy::default());
        let (a, b) = (s.next_id(), s.next_id());
        assert_ne!(a, b);
        let lens: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(lens, [8, 4, 4, 4, 12]);
    }
}
