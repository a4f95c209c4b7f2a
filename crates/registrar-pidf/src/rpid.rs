//! Rich presence (RFC 4480) and contact information (RFC 4482) elements.

use crate::Error;
use crate::common::{Note, set_once, trimmed};
use crate::ns;
use crate::xml::{Attribute, Element, Name, Node};

/// The RPID elements found in a person, tuple or device. Each is kept whole; unknown content inside them
/// is kept in their `extensions`.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct Rpid {
    /// `<activities>`: what the person is doing.
    pub activities: Option<RpidSet>,
    /// `<class>`: a tag grouping elements.
    pub class: Option<String>,
    /// `<mood>`.
    pub mood: Option<RpidSet>,
    /// `<place-type>` (tokens from the RFC 4589 location types).
    pub place_type: Option<RpidSet>,
    /// `<privacy>`.
    pub privacy: Option<RpidSet>,
    /// `<relationship>` of a tuple's service to the presentity.
    pub relationship: Option<RpidSet>,
    /// `<service-class>`.
    pub service_class: Option<RpidSet>,
    /// `<sphere>`: `work`, `home`, or free text.
    pub sphere: Option<RpidSet>,
    /// `<status-icon>` URI.
    pub status_icon: Option<String>,
    /// `<time-offset>`: minutes from UTC.
    pub time_offset: Option<TimeOffset>,
    /// `<user-input>`: active or idle.
    pub user_input: Option<UserInput>,
}

impl Rpid {
    /// Whether no RPID element is present.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The activities as typed values, in document order.
    pub fn activity_list(&self) -> Vec<Activity> {
        self.activities
            .as_ref()
            .map(|a| {
                a.tokens
                    .iter()
                    .filter(|t| t.ns() == Some(ns::RPID))
                    .map(|t| Activity::from_local(t.local()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Try to take `e` as an RPID element; give it back when it is not one.
    pub(crate) fn absorb(&mut self, e: Element, at: &str) -> Result<Option<Element>, Error> {
        if e.name.ns() != Some(ns::RPID) {
            return Ok(Some(e));
        }
        match e.name.local() {
            "activities" => set_once(
                &mut self.activities,
                RpidSet::from_element(e),
                at,
                "activities",
            )?,
            "mood" => set_once(&mut self.mood, RpidSet::from_element(e), at, "mood")?,
            "place-type" => set_once(
                &mut self.place_type,
                RpidSet::from_element(e),
                at,
                "place-type",
            )?,
            "privacy" => set_once(&mut self.privacy, RpidSet::from_element(e), at, "privacy")?,
            "relationship" => {
                set_once(
                    &mut self.relationship,
                    RpidSet::from_element(e),
                    at,
                    "relationship",
                )?;
            }
            "service-class" => {
                set_once(
                    &mut self.service_class,
                    RpidSet::from_element(e),
                    at,
                    "service-class",
                )?;
            }
            "sphere" => set_once(&mut self.sphere, RpidSet::from_element(e), at, "sphere")?,
            "class" => set_once(&mut self.class, trimmed(&e), at, "class")?,
            "status-icon" => set_once(&mut self.status_icon, trimmed(&e), at, "status-icon")?,
            "time-offset" => {
                set_once(
                    &mut self.time_offset,
                    TimeOffset::from_element(e, at)?,
                    at,
                    "time-offset",
                )?;
            }
            "user-input" => {
                set_once(
                    &mut self.user_input,
                    UserInput::from_element(e, at)?,
                    at,
                    "user-input",
                )?;
            }
            _ => return Ok(Some(e)),
        }
        Ok(None)
    }

    /// The elements, in RFC 4480 schema order.
    pub(crate) fn to_elements(&self) -> Vec<Element> {
        let mut out = Vec::new();
        let set = |out: &mut Vec<Element>, v: &Option<RpidSet>, local| {
            if let Some(s) = v {
                out.push(s.to_element(local));
            }
        };
        set(&mut out, &self.activities, "activities");
        if let Some(c) = &self.class {
            out.push(Element::with_text(ns::RPID, "class", c));
        }
        set(&mut out, &self.mood, "mood");
        set(&mut out, &self.place_type, "place-type");
        set(&mut out, &self.privacy, "privacy");
        set(&mut out, &self.relationship, "relationship");
        set(&mut out, &self.service_class, "service-class");
        set(&mut out, &self.sphere, "sphere");
        if let Some(s) = &self.status_icon {
            out.push(Element::with_text(ns::RPID, "status-icon", s));
        }
        if let Some(t) = &self.time_offset {
            out.push(t.to_element());
        }
        if let Some(u) = &self.user_input {
            out.push(u.to_element());
        }
        out
    }
}

/// An RPID element made of empty token elements (`<rpid:away/>`), `<other>` texts and notes, valid between
/// `from` and `until`: activities, mood, place-type, privacy, relationship, service-class, sphere.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct RpidSet {
    /// `id`
    pub id: Option<String>,
    /// `from` (RFC 3339 time).
    pub from: Option<String>,
    /// `until` (RFC 3339 time).
    pub until: Option<String>,
    /// `<note>`s.
    pub notes: Vec<Note>,
    /// The token elements in order, by expanded name (`{rpid}away`, `{location-type}residence`).
    pub tokens: Vec<Name>,
    /// `<other>` texts.
    pub other: Vec<Note>,
    /// Free text directly inside (as `<sphere>bowling league</sphere>` has), if not blank.
    pub text: Option<String>,
    /// Anything else inside, kept for round trips.
    pub extensions: Vec<Element>,
    /// Unknown attributes.
    pub other_attrs: Vec<Attribute>,
}

impl RpidSet {
    /// A set of RPID tokens (`["away", "meeting"]`).
    pub fn of_tokens<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            tokens: tokens
                .into_iter()
                .map(|t| Name::new(Some(ns::RPID), t))
                .collect(),
            ..Self::default()
        }
    }

    /// The local names of the tokens.
    pub fn token_names(&self) -> Vec<&str> {
        self.tokens.iter().map(Name::local).collect()
    }

    fn from_element(mut e: Element) -> Self {
        let mut s = Self {
            id: e.take_attr("id"),
            from: e.take_attr("from"),
            until: e.take_attr("until"),
            ..Self::default()
        };
        for child in e.take_elements() {
            let is_rpid = child.name.ns() == Some(ns::RPID);
            match child.name.local() {
                "note" if is_rpid => s.notes.push(Note::from_element(child)),
                "other" if is_rpid => s.other.push(Note::from_element(child)),
                _ if child.children.is_empty() && child.attrs.is_empty() => {
                    s.tokens.push(child.name)
                }
                _ => s.extensions.push(child),
            }
        }
        let text = e.text();
        if !text.trim().is_empty() {
            s.text = Some(text);
        }
        s.other_attrs = e.attrs;
        s
    }

    fn to_element(&self, local: &str) -> Element {
        let mut e = Element::new(Name::new(Some(ns::RPID), local))
            .attr_opt("id", self.id.as_deref())
            .attr_opt("from", self.from.as_deref())
            .attr_opt("until", self.until.as_deref());
        e.attrs.extend(self.other_attrs.iter().cloned());
        if let Some(t) = &self.text {
            e.children.push(Node::Text(t.clone()));
        }
        for n in &self.notes {
            e.push(n.to_element(ns::RPID, "note"));
        }
        for t in &self.tokens {
            e.push(Element::new(t.clone()));
        }
        for o in &self.other {
            e.push(o.to_element(ns::RPID, "other"));
        }
        for x in &self.extensions {
            e.push(x.clone());
        }
        e
    }
}

/// `<user-input>`: whether the user is using the device.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct UserInput {
    /// `active` or `idle`.
    pub value: String,
    /// `idle-threshold` in seconds.
    pub idle_threshold: Option<String>,
    /// `last-input` time.
    pub last_input: Option<String>,
    /// `id`
    pub id: Option<String>,
    /// Unknown attributes.
    pub other_attrs: Vec<Attribute>,
}

impl UserInput {
    fn from_element(mut e: Element, at: &str) -> Result<Self, Error> {
        let value = trimmed(&e);
        if value != "active" && value != "idle" {
            return Err(Error::InvalidValue {
                at: format!("{at}/user-input"),
                value,
                expected: "active or idle",
            });
        }
        Ok(Self {
            value,
            idle_threshold: e.take_attr("idle-threshold"),
            last_input: e.take_attr("last-input"),
            id: e.take_attr("id"),
            other_attrs: e.attrs,
        })
    }

    fn to_element(&self) -> Element {
        let mut e = Element::with_text(ns::RPID, "user-input", &self.value)
            .attr_opt("idle-threshold", self.idle_threshold.as_deref())
            .attr_opt("last-input", self.last_input.as_deref())
            .attr_opt("id", self.id.as_deref());
        e.attrs.extend(self.other_attrs.iter().cloned());
        e
    }
}

/// `<time-offset>`: the presentity's offset from UTC in minutes.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct TimeOffset {
    /// Minutes, as written (may be negative).
    pub minutes: String,
    /// `description`
    pub description: Option<String>,
    /// `from`
    pub from: Option<String>,
    /// `until`
    pub until: Option<String>,
    /// `id`
    pub id: Option<String>,
    /// Unknown attributes.
    pub other_attrs: Vec<Attribute>,
}

impl TimeOffset {
    fn from_element(mut e: Element, at: &str) -> Result<Self, Error> {
        let minutes = trimmed(&e);
        if minutes.parse::<i32>().is_err() {
            return Err(Error::InvalidValue {
                at: format!("{at}/time-offset"),
                value: minutes,
                expected: "an integer number of minutes",
            });
        }
        Ok(Self {
            minutes,
            description: e.take_attr("description"),
            from: e.take_attr("from"),
            until: e.take_attr("until"),
            id: e.take_attr("id"),
            other_attrs: e.attrs,
        })
    }

    fn to_element(&self) -> Element {
        let mut e = Element::with_text(ns::RPID, "time-offset", &self.minutes)
            .attr_opt("description", self.description.as_deref())
            .attr_opt("from", self.from.as_deref())
            .attr_opt("until", self.until.as_deref())
            .attr_opt("id", self.id.as_deref());
        e.attrs.extend(self.other_attrs.iter().cloned());
        e
    }
}

/// An RPID activity (RFC 4480 §3.2): every token of the RFC, and unrecognized tokens kept as written.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Activity {
    /// `appointment`
    Appointment,
    /// `away`
    Away,
    /// `breakfast`
    Breakfast,
    /// `busy`
    Busy,
    /// `dinner`
    Dinner,
    /// `holiday`
    Holiday,
    /// `in-transit`
    InTransit,
    /// `looking-for-work`
    LookingForWork,
    /// `lunch`
    Lunch,
    /// `meal`
    Meal,
    /// `meeting`
    Meeting,
    /// `on-the-phone`
    OnThePhone,
    /// `other` (its text is in [`RpidSet::other`])
    Other,
    /// `performance`
    Performance,
    /// `permanent-absence`
    PermanentAbsence,
    /// `playing`
    Playing,
    /// `presentation`
    Presentation,
    /// `shopping`
    Shopping,
    /// `sleeping`
    Sleeping,
    /// `spectator`
    Spectator,
    /// `steering`
    Steering,
    /// `travel`
    Travel,
    /// `tv`
    Tv,
    /// `unknown`
    Unknown,
    /// `vacation`
    Vacation,
    /// `working`
    Working,
    /// `worship`
    Worship,
    /// A token the RFC does not define, kept as written.
    Unrecognized(String),
}

const ACTIVITIES: [(&str, Activity); 27] = [
    ("appointment", Activity::Appointment),
    ("away", Activity::Away),
    ("breakfast", Activity::Breakfast),
    ("busy", Activity::Busy),
    ("dinner", Activity::Dinner),
    ("holiday", Activity::Holiday),
    ("in-transit", Activity::InTransit),
    ("looking-for-work", Activity::LookingForWork),
    ("lunch", Activity::Lunch),
    ("meal", Activity::Meal),
    ("meeting", Activity::Meeting),
    ("on-the-phone", Activity::OnThePhone),
    ("other", Activity::Other),
    ("performance", Activity::Performance),
    ("permanent-absence", Activity::PermanentAbsence),
    ("playing", Activity::Playing),
    ("presentation", Activity::Presentation),
    ("shopping", Activity::Shopping),
    ("sleeping", Activity::Sleeping),
    ("spectator", Activity::Spectator),
    ("steering", Activity::Steering),
    ("travel", Activity::Travel),
    ("tv", Activity::Tv),
    ("unknown", Activity::Unknown),
    ("vacation", Activity::Vacation),
    ("working", Activity::Working),
    ("worship", Activity::Worship),
];

impl Activity {
    /// The activity named by an RPID local name.
    pub fn from_local(local: &str) -> Self {
        ACTIVITIES
            .iter()
            .find(|(n, _)| *n == local)
            .map_or_else(|| Self::Unrecognized(local.to_owned()), |(_, a)| a.clone())
    }

    /// The local name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Unrecognized(s) => s,
            known => ACTIVITIES
                .iter()
                .find(|(_, a)| a == known)
                .map_or("unknown", |(n, _)| n),
        }
    }

    /// Whether the activity means the person should not be disturbed by a call.
    pub const fn is_busy(&self) -> bool {
        matches!(
            self,
            Self::Busy | Self::OnThePhone | Self::Meeting | Self::Presentation | Self::Performance
        )
    }
}

/// Contact information (RFC 4482): where to find more about the presentity.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct Cipid {
    /// `<card>`: a vCard URI.
    pub card: Option<String>,
    /// `<display-name>`.
    pub display_name: Option<Note>,
    /// `<homepage>` URI.
    pub homepage: Option<String>,
    /// `<icon>` URI.
    pub icon: Option<String>,
    /// `<map>` URI.
    pub map: Option<String>,
    /// `<sound>` URI.
    pub sound: Option<String>,
}

impl Cipid {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub(crate) fn absorb(&mut self, e: Element, at: &str) -> Result<Option<Element>, Error> {
        if e.name.ns() != Some(ns::CIPID) {
            return Ok(Some(e));
        }
        match e.name.local() {
            "card" => set_once(&mut self.card, trimmed(&e), at, "card")?,
            "display-name" => set_once(
                &mut self.display_name,
                Note::from_element(e),
                at,
                "display-name",
            )?,
            "homepage" => set_once(&mut self.homepage, trimmed(&e), at, "homepage")?,
            "icon" => set_once(&mut self.icon, trimmed(&e), at, "icon")?,
            "map" => set_once(&mut self.map, trimmed(&e), at, "map")?,
            "sound" => set_once(&mut self.sound, trimmed(&e), at, "sound")?,
            _ => return Ok(Some(e)),
        }
        Ok(None)
    }

    pub(crate) fn to_elements(&self) -> Vec<Element> {
        let mut out = Vec::new();
        let uri = |out: &mut Vec<Element>, v: &Option<String>, local| {
            if let Some(v) = v {
                out.push(Element::with_text(ns::CIPID, local, v));
            }
        };
        uri(&mut out, &self.card, "card");
        if let Some(d) = &self.display_name {
            out.push(d.to_element(ns::CIPID, "display-name"));
        }
        uri(&mut out, &self.homepage, "homepage");
        uri(&mut out, &self.icon, "icon");
        uri(&mut out, &self.map, "map");
        uri(&mut out, &self.sound, "sound");
        out
    }
}
