//! What every listener is bounded by: how many connections in all and per source address (admission), and
//! the file-descriptor budget they come out of. Past a limit a new connection is accepted and closed at once
//! (so that it does not sit in the kernel's backlog) and counted; nothing else is affected.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tracing::{info, warn};

/// Descriptors kept for everything that is not a client connection: listening and UDP sockets, the data
/// files, the store's connections (PostgreSQL pool, Redis), DNS, federation requests, logs.
pub(crate) const RESERVED_FILES: u64 = 256;

/// Raise the soft limit of open files to the hard limit and return it.
pub(crate) fn file_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut l = getrlimit(Resource::Nofile);
    if let (Some(cur), Some(max)) = (l.current, l.maximum)
        && cur < max
    {
        l.current = Some(max);
        if let Err(e) = setrlimit(Resource::Nofile, l) {
            warn!("cannot raise the open-file limit from {cur} to {max}: {e}");
        }
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// The connection limits of the SIP stream listeners (TCP, TLS, WS, WSS together) and of the HTTP listener,
/// from the configured ones (0: derive) and the file limit: both together stay below the file limit minus
/// [`RESERVED_FILES`], HTTP keeps its share whatever SIP does.
pub(crate) fn budget(files: u64, sip_configured: usize, http_configured: usize) -> (usize, usize) {
    let usable = usize::try_from(files.saturating_sub(RESERVED_FILES))
        .unwrap_or(usize::MAX)
        .max(2);
    let http = http_configured.clamp(1, usable / 2);
    let room = usable - http;
    let sip = if sip_configured == 0 {
        room
    } else {
        sip_configured.min(room)
    };
    if sip_configured > room {
        warn!(
            configured = sip_configured,
            chosen = sip,
            files,
            "sip.max_connections is above what the open-file limit allows"
        );
    }
    info!(
        files,
        sip_streams = sip,
        http = http,
        "connection limits (from the open-file limit, {RESERVED_FILES} descriptors kept for the rest)"
    );
    (sip.max(1), http)
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The listener holds its maximum of connections.
    Total,
    /// The source address holds its maximum.
    PerSource,
}

impl Refused {
    const fn label(self) -> &'static str {
        match self {
            Self::Total => "total",
            Self::PerSource => "per_source",
        }
    }
}

/// Admission of new connections for one listener kind (`sip` or `http`).
#[derive(Debug)]
pub(crate) struct Admission {
    name: &'static str,
    max_total: usize,
    max_per_source: usize,
    total: AtomicUsize,
    per_source: dashmap::DashMap<IpAddr, usize>,
}

/// A connection admitted: released (and its counts lowered) when dropped.
#[derive(Debug)]
pub(crate) struct Admitted {
    gate: Arc<Admission>,
    ip: IpAddr,
}

impl Admission {
    pub(crate) fn new(name: &'static str, max_total: usize, max_per_source: usize) -> Arc<Self> {
        Arc::new(Self {
            name,
            max_total: max_total.max(1),
            max_per_source: max_per_source.max(1),
            total: AtomicUsize::new(0),
            per_source: dashmap::DashMap::new(),
        })
    }

    /// Admit a connection from `ip`, or say why not (and count the refusal).
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Refused> {
        let r = self.try_admit(ip);
        match r {
            Ok(_) => {
                metrics::gauge!("registrar_connections", "listener" => self.name)
                    .set(self.total.load(Ordering::Relaxed) as f64);
            }
            Err(why) => {
                metrics::counter!(
                    "registrar_connections_refused_total",
                    "listener" => self.name,
                    "reason" => why.label()
                )
                .increment(1);
            }
        }
        r
    }

    fn try_admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Refused> {
        if self
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_total).then_some(n + 1)
            })
            .is_err()
        {
            return Err(Refused::Total);
        }
        let mut e = self.per_source.entry(ip).or_insert(0);
        if *e >= self.max_per_source {
            drop(e);
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::PerSource);
        }
        *e += 1;
        Ok(Admitted {
            gate: Arc::clone(self),
            ip,
        })
    }

    /// Connections held now.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let g = &self.gate;
        g.per_source.remove_if_mut(&self.ip, |_, n| {
            *n -= 1;
            *n == 0
        });
        let left = g.total.fetch_sub(1, Ordering::AcqRel) - 1;
        metrics::gauge!("registrar_connections", "listener" => g.name).set(left as f64);
    }
}

/// Count a connection the server closed, by why (`slow`: a started message did not complete in time;
/// `idle`; `write_queue`: the peer does not read what it is sent; `write_timeout`; `handshake`; `frame`:
/// unframeable or oversized).
pub(crate) fn closed(listener: &'static str, why: &'static str) {
    metrics::counter!("registrar_connections_closed_total", "listener" => listener, "reason" => why)
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_counts_total_and_per_source_and_releases() {
        let g = Admission::new("test", 3, 2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let a1 = g.admit(a).unwrap();
        let _a2 = g.admit(a).unwrap();
        assert_eq!(g.admit(a).unwrap_err(), Refused::PerSource);
        let _b1 = g.admit(b).unwrap();
        assert_eq!(g.admit(b).unwrap_err(), Refused::Total);
        assert_eq!(g.held(), 3);
        drop(a1);
        assert_eq!(g.held(), 2);
        let _b2 = g.admit(b).unwrap();
        assert_eq!(g.admit(b).unwrap_err(), Refused::Total);
    }

    #[test]
    fn budget_keeps_http_its_share_below_the_file_limit() {
        assert_eq!(budget(1_024, 0, 256), (512, 256));
        assert_eq!(budget(1_024, 100, 256), (100, 256));
        assert_eq!(budget(1_024, 10_000, 256), (512, 256));
        // A tiny limit still leaves each listener something.
        let (s, h) = budget(100, 0, 256);
        assert!(s >= 1 && h >= 1);
    }
}
