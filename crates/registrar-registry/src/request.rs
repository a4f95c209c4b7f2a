use std::net::SocketAddr;
use std::sync::Arc;

use registrar_types::{Aor, CSeq, CallId, InstanceId, QValue, RegId, SipUri, Transport};

/// One REGISTER request, already parsed and authenticated by the SIP layer.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RegisterRequest {
    /// The address-of-record from the To header.
    pub aor: Aor,
    /// Call-ID.
    pub call_id: CallId,
    /// CSeq number.
    pub cseq: CSeq,
    /// The Contact header values in order; empty for a query.
    pub contacts: Vec<ContactEntry>,
    /// The Expires header, if present.
    pub expires: Option<u32>,
    /// The Path header URIs (RFC 3327), first hop first.
    pub path: Vec<SipUri>,
    /// What the UA declared in `Supported`.
    pub supported: Supported,
    /// Where the request came from.
    pub source: Option<SocketAddr>,
    /// The transport it came over.
    pub transport: Option<Transport>,
    /// The User-Agent header.
    pub user_agent: Option<Arc<str>>,
}

impl RegisterRequest {
    /// A request for `aor` with no Contact (a query) and no Expires header.
    pub const fn new(aor: Aor, call_id: CallId, cseq: CSeq) -> Self {
        Self {
            aor,
            call_id,
            cseq,
            contacts: Vec::new(),
            expires: None,
            path: Vec::new(),
            supported: Supported {
                gruu: false,
                outbound: false,
                path: false,
            },
            source: None,
            transport: None,
            user_agent: None,
        }
    }

    /// Add a Contact value.
    #[must_use]
    pub fn contact(mut self, contact: ContactSpec) -> Self {
        self.contacts.push(ContactEntry::Contact(contact));
        self
    }

    /// Add the `*` Contact value.
    #[must_use]
    pub fn wildcard(mut self) -> Self {
        self.contacts.push(ContactEntry::Wildcard);
        self
    }

    /// Set the Expires header.
    #[must_use]
    pub const fn expires(mut self, secs: u32) -> Self {
        self.expires = Some(secs);
        self
    }

    /// Set the Path header URIs.
    #[must_use]
    pub fn path(mut self, path: Vec<SipUri>) -> Self {
        self.path = path;
        self
    }

    /// Set what the UA supports.
    #[must_use]
    pub const fn supported(mut self, supported: Supported) -> Self {
        self.supported = supported;
        self
    }

    /// Set the source address and transport.
    #[must_use]
    pub fn from_addr(mut self, source: SocketAddr, transport: Transport) -> Self {
        self.source = Some(source);
        self.transport = Some(transport);
        self
    }

    /// Set the User-Agent.
    #[must_use]
    pub fn user_agent(mut self, ua: &str) -> Self {
        self.user_agent = Some(ua.into());
        self
    }
}

/// Option tags from the `Supported` header that change registrar behaviour.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct Supported {
    /// `gruu` (RFC 5627).
    pub gruu: bool,
    /// `outbound` (RFC 5626).
    pub outbound: bool,
    /// `path` (RFC 3327).
    pub path: bool,
}

impl Supported {
    /// All three extensions.
    pub const ALL: Self = Self {
        gruu: true,
        outbound: true,
        path: true,
    };

    /// From option tags as written in the header.
    pub fn from_tags<'a>(tags: impl IntoIterator<Item = &'a str>) -> Self {
        let mut s = Self::default();
        for t in tags {
            let t = t.trim();
            if t.eq_ignore_ascii_case("gruu") {
                s.gruu = true;
            } else if t.eq_ignore_ascii_case("outbound") {
                s.outbound = true;
            } else if t.eq_ignore_ascii_case("path") {
                s.path = true;
            }
        }
        s
    }
}

/// One value of the Contact header.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ContactEntry {
    /// `*`
    Wildcard,
    /// A contact address with its parameters.
    Contact(ContactSpec),
}

/// A contact address and the Contact header parameters the registrar uses.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ContactSpec {
    /// The contact URI.
    pub uri: SipUri,
    /// `q`
    pub q: Option<QValue>,
    /// `expires`
    pub expires: Option<u32>,
    /// `+sip.instance`
    pub instance_id: Option<InstanceId>,
    /// `reg-id`
    pub reg_id: Option<RegId>,
    /// `+sip.pnsreg` (RFC 8599 §4.1.4): the device refreshes the binding without being woken.
    pub pnsreg: bool,
}

impl ContactSpec {
    /// A contact with no parameters.
    pub const fn new(uri: SipUri) -> Self {
        Self {
            uri,
            q: None,
            expires: None,
            instance_id: None,
            reg_id: None,
            pnsreg: false,
        }
    }

    /// Set `+sip.pnsreg`.
    #[must_use]
    pub const fn pnsreg(mut self) -> Self {
        self.pnsreg = true;
        self
    }

    /// Set `q`.
    #[must_use]
    pub const fn q(mut self, q: QValue) -> Self {
        self.q = Some(q);
        self
    }

    /// Set `expires`.
    #[must_use]
    pub const fn expires(mut self, secs: u32) -> Self {
        self.expires = Some(secs);
        self
    }

    /// Set `+sip.instance`.
    #[must_use]
    pub fn instance(mut self, id: InstanceId) -> Self {
        self.instance_id = Some(id);
        self
    }

    /// Set `reg-id`.
    #[must_use]
    pub const fn reg_id(mut self, id: RegId) -> Self {
        self.reg_id = Some(id);
        self
    }
}
