//! The REGISTER rules of RFC 3261 §10.3 (with RFC 5626, 5627 and 3327) as one pure function.

use std::cmp::Ordering;

use registrar_types::{Binding, QValue, TempGruu, Timestamp};

use crate::Error;
use crate::gruu;
use crate::policy::{ContactLimitPolicy, RegistrarPolicy};
use crate::request::{ContactEntry, ContactSpec, RegisterRequest};

/// What one REGISTER does to one AoR: the complete new set of bindings and what changed.
///
/// The store commits `bindings` as a whole, so a request with three contacts is applied entirely or not at all.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RegisterPlan {
    /// The AoR's bindings after the request, ordered by q (highest first), then most recently refreshed.
    pub bindings: Vec<Binding>,
    /// Every binding added, refreshed, updated, removed, evicted, or found expired, in that processing order.
    pub changes: Vec<BindingChange>,
    /// Whether an RFC 5626 outbound registration was accepted (the 200 OK then carries `Require: outbound`).
    pub outbound: bool,
}

/// One change to one binding.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BindingChange {
    /// What happened.
    pub kind: ChangeKind,
    /// The binding after the change (for removals: as it was).
    pub binding: Binding,
}

impl BindingChange {
    /// A change of `kind` to `binding` (for layers that report changes made outside a REGISTER, such as an
    /// operator's removal or an expiry sweep).
    pub const fn new(kind: ChangeKind, binding: Binding) -> Self {
        Self { kind, binding }
    }
}

/// What happened to a binding.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum ChangeKind {
    /// A new binding.
    Added,
    /// The same contact re-registered with the same Call-ID: a new expiry.
    Refreshed,
    /// An existing binding replaced: a new Call-ID, or a new contact URI for the same outbound flow.
    Updated,
    /// Removed by the UA (expires 0 or `Contact: *`) or by an operator.
    Removed,
    /// Removed to make room under the contact limit.
    Evicted,
    /// Its expiry passed.
    Expired,
    /// The device is no longer reachable: the outbound flow it registered over closed (RFC 5626 §5.2), or
    /// it left keep-alive pings unanswered. RFC 3680 calls this `deactivated`.
    Unreachable,
}

/// Apply one REGISTER to the AoR's `current` bindings at `now`.
///
/// Pure: reads nothing but its arguments. `entropy` seeds the keys of new temporary GRUU series; pass fresh
/// random bits for every request. On error nothing is to be changed: the whole request fails.
///
/// # Errors
/// Every rule a request can break, as a typed [`Error`] that maps to one SIP status.
pub fn plan_register(
    now: Timestamp,
    req: &RegisterRequest,
    current: &[Binding],
    policy: &RegistrarPolicy,
    entropy: u64,
) -> Result<RegisterPlan, Error> {
    let mut changes = Vec::new();
    let mut live: Vec<&Binding> = Vec::with_capacity(current.len());
    for b in current {
        if b.is_live(now) {
            live.push(b);
        } else {
            changes.push(BindingChange {
                kind: ChangeKind::Expired,
                binding: b.clone(),
            });
        }
    }

    // §10.3 step 6: "*" only alone, only with Expires: 0.
    if req
        .contacts
        .iter()
        .any(|c| matches!(c, ContactEntry::Wildcard))
    {
        if req.contacts.len() > 1 {
            return Err(Error::WildcardNotAlone);
        }
        if req.expires != Some(0) {
            return Err(Error::WildcardNeedsZeroExpires);
        }
        for b in &live {
            check_cseq(req, b)?;
        }
        changes.extend(live.into_iter().map(|b| BindingChange {
            kind: ChangeKind::Removed,
            binding: b.clone(),
        }));
        return Ok(RegisterPlan {
            bindings: Vec::new(),
            changes,
            outbound: false,
        });
    }

    // No Contact: a query; the answer is the current bindings.
    if req.contacts.is_empty() {
        let mut bindings: Vec<Binding> = live.into_iter().cloned().collect();
        bindings.sort_by(binding_order);
        return Ok(RegisterPlan {
            bindings,
            changes,
            outbound: false,
        });
    }

    if !req.path.is_empty() && policy.require_path_support && !req.supported.path {
        return Err(Error::ExtensionRequired { extension: "path" });
    }

    let mut items = resolve_items(req, policy)?;
    let outbound = items.iter().any(|i| i.outbound);

    // Find each contact's existing binding and apply the Call-ID/CSeq rule before changing anything.
    let mut consumed = vec![false; live.len()];
    for item in &mut items {
        let found = if item.outbound {
            live.iter().position(|b| {
                b.reg_id == item.spec.reg_id && b.instance_id == item.spec.instance_id
            })
        } else {
            live.iter().position(|b| b.contact == item.spec.uri)
        };
        if let Some(i) = found {
            if consumed[i] {
                return Err(Error::DuplicateContact {
                    contact: item.spec.uri.to_string(),
                });
            }
            consumed[i] = true;
            check_cseq(req, live[i])?;
        }
        item.matched = found;
    }

    // Bindings named by the request come first in `next`, untouched ones after: eviction picks only from
    // the untouched tail.
    let mut next: Vec<Binding> = Vec::with_capacity(live.len() + items.len());
    for (n, item) in items.iter().enumerate() {
        let old = item.matched.map(|i| live[i]);
        if item.expires == 0 {
            if let Some(old) = old {
                changes.push(BindingChange {
                    kind: ChangeKind::Removed,
                    binding: old.clone(),
                });
            }
            continue;
        }
        let binding = build_binding(now, req, item, old, policy, key_for(entropy, n));
        let kind = match old {
            None => ChangeKind::Added,
            Some(o) if o.call_id == req.call_id && o.contact == item.spec.uri => {
                ChangeKind::Refreshed
            }
            Some(_) => ChangeKind::Updated,
        };
        changes.push(BindingChange {
            kind,
            binding: binding.clone(),
        });
        next.push(binding);
    }
    let named = next.len();
    next.extend(
        live.iter()
            .zip(&consumed)
            .filter(|(_, c)| !**c)
            .map(|(b, _)| (*b).clone()),
    );

    if next.len() > policy.max_contacts {
        match policy.contact_limit {
            ContactLimitPolicy::Reject => {
                return Err(Error::TooManyContacts {
                    max: policy.max_contacts,
                });
            }
            ContactLimitPolicy::EvictOldest => {
                evict_oldest(&mut next, named, policy.max_contacts, &mut changes)?;
            }
        }
    }

    next.sort_by(binding_order);
    Ok(RegisterPlan {
        bindings: next,
        changes,
        outbound,
    })
}

/// The order `lookup` returns: q highest first, then most recently refreshed, then most recently created.
pub(crate) fn binding_order(a: &Binding, b: &Binding) -> Ordering {
    b.q.cmp(&a.q)
        .then(b.last_refresh.cmp(&a.last_refresh))
        .then(b.registered_at.cmp(&a.registered_at))
}

struct Item<'a> {
    spec: &'a ContactSpec,
    expires: u32,
    outbound: bool,
    /// Index of the live binding this contact names.
    matched: Option<usize>,
}

fn resolve_items<'a>(
    req: &'a RegisterRequest,
    policy: &RegistrarPolicy,
) -> Result<Vec<Item<'a>>, Error> {
    let specs = || {
        req.contacts.iter().filter_map(|c| match c {
            ContactEntry::Contact(s) => Some(s),
            ContactEntry::Wildcard => None,
        })
    };
    // RFC 5626 §6: an outbound registration is one contact with both +sip.instance and reg-id; a reg-id without
    // an instance is ignored. One REGISTER carries at most one flow.
    let flows = specs()
        .filter(|s| s.reg_id.is_some() && s.instance_id.is_some())
        .count();
    if policy.outbound && flows > 1 {
        return Err(Error::MultipleRegIds);
    }
    // Behind an edge proxy (Path present), the first hop must have marked itself with `ob`.
    let first_hop_ok = req.path.first().is_none_or(|p| p.has_param("ob"));

    let mut items: Vec<Item<'a>> = Vec::with_capacity(req.contacts.len());
    for spec in specs() {
        if gruu::is_gruu_of(&spec.uri, &req.aor) {
            return Err(Error::ContactIsGruu {
                contact: spec.uri.to_string(),
            });
        }
        let asked = spec
            .expires
            .or(req.expires)
            .unwrap_or(policy.default_expires);
        if asked != 0 && asked < policy.min_expires {
            return Err(Error::IntervalTooBrief {
                min: policy.min_expires,
            });
        }
        let expires = asked.min(policy.max_expires);
        let mut outbound = policy.outbound && spec.instance_id.is_some() && spec.reg_id.is_some();
        if outbound && !first_hop_ok {
            if req.supported.outbound {
                return Err(Error::FirstHopLacksOutbound);
            }
            // The UA did not ask for outbound: register it as an ordinary contact.
            outbound = false;
        }
        let duplicate = items.iter().any(|other| {
            other.spec.uri == spec.uri
                || (outbound
                    && other.outbound
                    && other.spec.instance_id == spec.instance_id
                    && other.spec.reg_id == spec.reg_id)
        });
        if duplicate {
            return Err(Error::DuplicateContact {
                contact: spec.uri.to_string(),
            });
        }
        items.push(Item {
            spec,
            expires,
            outbound,
            matched: None,
        });
    }
    Ok(items)
}

/// RFC 3261 §10.3 step 7: with the same Call-ID, only a higher CSeq may change a binding.
fn check_cseq(req: &RegisterRequest, b: &Binding) -> Result<(), Error> {
    if b.call_id == req.call_id && req.cseq <= b.cseq {
        return Err(Error::StaleCSeq {
            stored: b.cseq,
            got: req.cseq,
        });
    }
    Ok(())
}

fn build_binding(
    now: Timestamp,
    req: &RegisterRequest,
    item: &Item<'_>,
    old: Option<&Binding>,
    policy: &RegistrarPolicy,
    new_key: u64,
) -> Binding {
    let spec = item.spec;
    let same_call = old.is_some_and(|o| o.call_id == req.call_id);
    let issues_gruus = policy.gruu && req.supported.gruu && spec.instance_id.is_some();
    let previous = old.and_then(|o| o.temp_gruu).filter(|_| same_call);
    let temp_gruu = match (issues_gruus, previous) {
        // A refresh with the same Call-ID issues the next GRUU of the series; the earlier ones stay valid.
        (true, Some(t)) => Some(TempGruu {
            key: t.key,
            seq: t.seq.saturating_add(1),
        }),
        // A new binding or a new Call-ID starts a new series, which retires the old one (RFC 5627 §5.4).
        (true, None) => Some(TempGruu {
            key: new_key,
            seq: 0,
        }),
        (false, keep) => keep,
    };
    Binding {
        contact: spec.uri.clone(),
        q: spec.q.unwrap_or(QValue::ONE),
        expires_at: now.plus_secs(u64::from(item.expires)),
        call_id: req.call_id.clone(),
        cseq: req.cseq,
        instance_id: spec.instance_id.clone(),
        reg_id: if item.outbound { spec.reg_id } else { None },
        path: req.path.clone(),
        source: req.source,
        transport: req.transport.clone(),
        user_agent: req.user_agent.clone(),
        registered_at: old.map_or(now, |o| o.registered_at),
        last_refresh: now,
        temp_gruu,
        pnsreg: spec.pnsreg,
    }
}

/// Evict from `next[named..]` (the bindings this request did not name), registered longest ago first.
fn evict_oldest(
    next: &mut Vec<Binding>,
    named: usize,
    max: usize,
    changes: &mut Vec<BindingChange>,
) -> Result<(), Error> {
    while next.len() > max {
        let oldest = next[named..]
            .iter()
            .enumerate()
            .min_by_key(|(_, b)| (b.registered_at, b.last_refresh))
            .map(|(i, _)| named + i);
        let Some(i) = oldest else {
            // Everything left was named in this request: evicting cannot make room.
            return Err(Error::TooManyContacts { max });
        };
        changes.push(BindingChange {
            kind: ChangeKind::Evicted,
            binding: next.remove(i),
        });
    }
    Ok(())
}

/// A distinct, well-mixed key per new binding from one request's entropy (SplitMix64 finalizer).
fn key_for(entropy: u64, n: usize) -> u64 {
    let mut z = entropy.wrapping_add((n as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
