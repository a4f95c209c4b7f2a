use std::time::Duration;

use registrar_registry::{
    ContactSpec, Error, MemoryLocationStore, RegisterOutcome, RegisterRequest, RegistrarPolicy,
    Registry,
};
use registrar_types::{Aor, CSeq, Clock, InstanceId, ManualClock, SipUri, Timestamp};

pub(crate) const START: Timestamp = Timestamp::from_secs(1_700_000_000);

pub(crate) struct Harness {
    pub registry: Registry<MemoryLocationStore>,
    pub clock: ManualClock,
}

impl Harness {
    pub(crate) fn new() -> Self {
        Self::with_policy(RegistrarPolicy::default())
    }

    pub(crate) fn with_policy(policy: RegistrarPolicy) -> Self {
        Self {
            registry: Registry::new(MemoryLocationStore::new(), policy).unwrap(),
            clock: ManualClock::new(START),
        }
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub(crate) fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    pub(crate) async fn register(&self, req: &RegisterRequest) -> Result<RegisterOutcome, Error> {
        self.registry.register(self.now(), req).await
    }

    pub(crate) async fn contacts(&self, aor: &str) -> Vec<String> {
        self.registry
            .lookup(&aor.parse().unwrap(), self.now())
            .await
            .unwrap()
            .iter()
            .map(|b| b.contact.to_string())
            .collect()
    }
}

pub(crate) fn aor(s: &str) -> Aor {
    s.parse().unwrap()
}

pub(crate) fn uri(s: &str) -> SipUri {
    s.parse().unwrap()
}

pub(crate) fn contact(s: &str) -> ContactSpec {
    ContactSpec::new(uri(s))
}

pub(crate) fn instance(s: &str) -> InstanceId {
    s.parse().unwrap()
}

pub(crate) fn req(aor_text: &str, call_id: &str, cseq: u32) -> RegisterRequest {
    RegisterRequest::new(
        aor(aor_text),
        call_id.parse().unwrap(),
        CSeq::new(cseq).unwrap(),
    )
}

pub(crate) const ALICE: &str = "sip:alice@example.com";
