//! Resource list meta-information (RFC 4662): the root part of a multipart/related list NOTIFY.

use crate::Error;
use crate::common::{Note, check_unsigned, path, required_attr, token_attr};
use crate::ns;
use crate::tokens::token_enum;
use crate::xml::{Attribute, Element, Name};

token_enum! {
    /// State of one subscription in a list (RFC 4662 §5.2).
    InstanceState {
        /// Active.
        Active = "active",
        /// Waiting for authorization.
        Pending = "pending",
        /// Ended (see `reason`).
        Terminated = "terminated",
    }
}

/// An RLMI `<list>`.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct ResourceList {
    /// `uri` of the list.
    pub uri: String,
    /// `version`, as written.
    pub version: String,
    /// `fullState`: the whole list (true) or only what changed (false).
    pub full_state: bool,
    /// `fullState` as written (`true`, `1`, …), kept for faithful reporting.
    pub full_state_text: String,
    /// `cid` of a nested list.
    pub cid: Option<String>,
    /// `<name>`s of the list.
    pub names: Vec<Note>,
    /// `<resource>`s.
    pub resources: Vec<Resource>,
    /// Other elements.
    pub extensions: Vec<Element>,
    /// Unknown attributes.
    pub other_attrs: Vec<Attribute>,
}

/// One resource of the list.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct Resource {
    /// `uri`
    pub uri: String,
    /// `<name>`s.
    pub names: Vec<Note>,
    /// `<instance>`s: the subscriptions to it.
    pub instances: Vec<Instance>,
    /// Other elements.
    pub extensions: Vec<Element>,
}

/// One subscription (instance) of a resource.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct Instance {
    /// `id`
    pub id: String,
    /// `state`
    pub state: InstanceState,
    /// `reason` (when terminated or pending).
    pub reason: Option<String>,
    /// `cid`: the Content-ID of the body part with this resource's state.
    pub cid: Option<String>,
    /// Unknown attributes.
    pub other_attrs: Vec<Attribute>,
}

impl ResourceList {
    /// An empty list.
    pub fn new(uri: &str, version: u64, full_state: bool) -> Self {
        Self {
            uri: uri.to_owned(),
            version: version.to_string(),
            full_state,
            full_state_text: full_state.to_string(),
            cid: None,
            names: Vec::new(),
            resources: Vec::new(),
            extensions: Vec::new(),
            other_attrs: Vec::new(),
        }
    }

    pub(crate) fn from_element(mut root: Element) -> Result<Self, Error> {
        const AT: &str = "list";
        let uri = required_attr(&mut root, "uri", AT)?;
        let version = required_attr(&mut root, "version", AT)?;
        check_unsigned(&version, "list@version")?;
        let fs = required_attr(&mut root, "fullState", AT)?;
        let full_state = match fs.trim() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => {
                return Err(Error::InvalidValue {
                    at: "list@fullState".into(),
                    value: fs,
                    expected: "true or false",
                });
            }
        };
        let mut l = Self::new(&uri, 0, full_state);
        l.version = version;
        l.full_state_text = fs;
        l.cid = root.take_attr("cid");
        let mut n = 0;
        for child in root.take_elements() {
            if child.name.is(ns::RLMI, "name") {
                l.names.push(Note::from_element(child));
            } else if child.name.is(ns::RLMI, "resource") {
                let at = path(AT, "resource", Some(n));
                n += 1;
                l.resources.push(Resource::from_element(child, &at)?);
            } else {
                l.extensions.push(child);
            }
        }
        l.other_attrs = root.attrs;
        Ok(l)
    }

    pub(crate) fn to_element(&self) -> Element {
        let mut e = Element::new(Name::new(Some(ns::RLMI), "list"))
            .attr("uri", &self.uri)
            .attr("version", &self.version)
            .attr("fullState", self.full_state_attr())
            .attr_opt("cid", self.cid.as_deref());
        e.attrs.extend(self.other_attrs.iter().cloned());
        for n in &self.names {
            e.push(n.to_element(ns::RLMI, "name"));
        }
        for r in &self.resources {
            let mut re = Element::new(Name::new(Some(ns::RLMI), "resource")).attr("uri", &r.uri);
            for n in &r.names {
                re.push(n.to_element(ns::RLMI, "name"));
            }
            for i in &r.instances {
                let mut ie = Element::new(Name::new(Some(ns::RLMI), "instance"))
                    .attr("id", &i.id)
                    .attr("state", i.state.as_str())
                    .attr_opt("reason", i.reason.as_deref())
                    .attr_opt("cid", i.cid.as_deref());
                ie.attrs.extend(i.other_attrs.iter().cloned());
                re.push(ie);
            }
            for x in &r.extensions {
                re.push(x.clone());
            }
            e.push(re);
        }
        for x in &self.extensions {
            e.push(x.clone());
        }
        e
    }
}

impl ResourceList {
    /// `fullState` as written when it means `full_state`, else the canonical spelling.
    fn full_state_attr(&self) -> &str {
        let written = match self.full_state_text.trim() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        };
        if written == Some(self.full_state) {
            &self.full_state_text
        } else if self.full_state {
            "true"
        } else {
            "false"
        }
    }
}

impl Resource {
    /// A resource with no name or instance.
    pub fn new(uri: &str) -> Self {
        Self {
            uri: uri.to_owned(),
            names: Vec::new(),
            instances: Vec::new(),
            extensions: Vec::new(),
        }
    }

    fn from_element(mut e: Element, at: &str) -> Result<Self, Error> {
        let mut r = Self::new(&required_attr(&mut e, "uri", at)?);
        let mut n = 0;
        for mut child in e.take_elements() {
            if child.name.is(ns::RLMI, "name") {
                r.names.push(Note::from_element(child));
            } else if child.name.is(ns::RLMI, "instance") {
                let iat = path(at, "instance", Some(n));
                n += 1;
                r.instances.push(Instance {
                    id: required_attr(&mut child, "id", &iat)?,
                    state: token_attr(&mut child, "state", &iat, InstanceState::EXPECTED)?,
                    reason: child.take_attr("reason"),
                    cid: child.take_attr("cid"),
                    other_attrs: std::mem::take(&mut child.attrs),
                });
            } else {
                r.extensions.push(child);
            }
        }
        Ok(r)
    }
}

impl Instance {
    /// An instance in `state`.
    pub fn new(id: &str, state: InstanceState) -> Self {
        Self {
            id: id.to_owned(),
            state,
            reason: None,
            cid: None,
            other_attrs: Vec::new(),
        }
    }
}
