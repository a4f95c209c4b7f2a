//! The most the directory stores: every text and every list of a participant, a topic, priority settings,
//! a query and a contact request has a maximum, checked before anything is changed or searched. The limits
//! keep one participant from making the directory slow or large for everyone (a search index's work grows
//! with the text it holds), and they are the numbers docs/directory.md and `/openapi.json` state.
//!
//! Lengths are in bytes of UTF-8. An answer over a limit is [`Error::Invalid`] naming the field (as a path
//! into the JSON document: `identities[0].name`) and its limit.

use crate::Error;
use crate::model::{Participant, TopicSubscription};
use crate::priority::PrioritySettings;

/// A display name.
pub const NAME: usize = 200;
/// An organization, department, team, role or region.
pub const LABEL: usize = 200;
/// An email address (RFC 5321's longest path).
pub const EMAIL: usize = 254;
/// A SIP address of record.
pub const SIP_AOR: usize = 256;
/// Identity contexts of one participant.
pub const IDENTITIES: usize = 10;
/// Capabilities or languages of one identity context.
pub const TAGS: usize = 50;
/// One capability or language tag.
pub const TAG: usize = 64;
/// Participants on one list: auto-accept (grants), blocked ids, blocked senders.
pub const PEOPLE: usize = 500;
/// Domains or organizations on one list: blocked domains, blocked organizations, partners.
pub const NAMES: usize = 200;
/// A domain on a block list.
pub const DOMAIN: usize = 253;
/// A topic.
pub const TOPIC: usize = 100;
/// Topics one participant follows.
pub const TOPICS: usize = 200;
/// Relationships one participant declares.
pub const RELATIONSHIPS: usize = 5_000;
/// Per-topic levels, time rules or emergency keywords in one participant's priority settings.
pub const RULES: usize = 100;
/// An emergency keyword.
pub const KEYWORD: usize = 64;
/// The free text of a discovery.
pub const QUERY_TEXT: usize = 512;
/// A hint of a discovery (organization, domain, role, capability, language).
pub const HINT: usize = 200;
/// The note of a contact request.
pub const NOTE: usize = 500;
/// A request body of the directory's HTTP API.
pub const BODY: usize = 1024 * 1024;

fn text(field: &str, value: &str, max: usize) -> Result<(), Error> {
    if value.len() > max {
        return Err(Error::Invalid(format!(
            "{field}: at most {max} bytes (got {})",
            value.len()
        )));
    }
    Ok(())
}

fn opt(field: &str, value: Option<&str>, max: usize) -> Result<(), Error> {
    value.map_or(Ok(()), |v| text(field, v, max))
}

fn list<T>(field: &str, items: &[T], max: usize) -> Result<(), Error> {
    if items.len() > max {
        return Err(Error::Invalid(format!(
            "{field}: at most {max} entries (got {})",
            items.len()
        )));
    }
    Ok(())
}

fn texts(field: &str, items: &[String], max_items: usize, max_len: usize) -> Result<(), Error> {
    list(field, items, max_items)?;
    for (i, v) in items.iter().enumerate() {
        text(&format!("{field}[{i}]"), v, max_len)?;
    }
    Ok(())
}

/// Check every text and list of a participant.
///
/// # Errors
/// [`Error::Invalid`] naming the first field over its limit.
pub fn participant(p: &Participant) -> Result<(), Error> {
    list("identities", &p.identities, IDENTITIES)?;
    for (i, id) in p.identities.iter().enumerate() {
        let f = |name: &str| format!("identities[{i}].{name}");
        text(&f("name"), &id.name, NAME)?;
        opt(&f("email"), id.email.as_deref(), EMAIL)?;
        opt(&f("sip_aor"), id.sip_aor.as_deref(), SIP_AOR)?;
        opt(&f("organization"), id.organization.as_deref(), LABEL)?;
        opt(&f("department"), id.department.as_deref(), LABEL)?;
        opt(&f("role"), id.role.as_deref(), LABEL)?;
        texts(&f("capabilities"), &id.capabilities, TAGS, TAG)?;
        texts(&f("languages"), &id.languages, TAGS, TAG)?;
    }
    let perms = &p.permissions;
    if perms.min_trust > 100 {
        return Err(Error::Invalid(format!(
            "permissions.min_trust: 0 to 100 (got {})",
            perms.min_trust
        )));
    }
    // Each field or method is listed at most once: the enums bound the lists.
    list("permissions.searchable", &perms.searchable, 9)?;
    list("permissions.contact_methods", &perms.contact_methods, 2)?;
    list("permissions.auto_accept", &perms.auto_accept, PEOPLE)?;
    list("permissions.blocked_ids", &perms.blocked_ids, PEOPLE)?;
    texts(
        "permissions.blocked_domains",
        &perms.blocked_domains,
        NAMES,
        DOMAIN,
    )?;
    texts(
        "permissions.blocked_organizations",
        &perms.blocked_organizations,
        NAMES,
        LABEL,
    )?;
    if let Some(o) = &p.org {
        text("org.organization", &o.organization, LABEL)?;
        opt("org.department", o.department.as_deref(), LABEL)?;
        opt("org.team", o.team.as_deref(), LABEL)?;
        opt("org.role", o.role.as_deref(), LABEL)?;
        texts(
            "org.cross_org.partners",
            &o.cross_org.partners,
            NAMES,
            LABEL,
        )?;
        texts("org.cross_org.blocked", &o.cross_org.blocked, NAMES, LABEL)?;
    }
    opt("region", p.region.as_deref(), LABEL)?;
    if p.utc_offset_minutes.unsigned_abs() > 1_440 {
        return Err(Error::Invalid(format!(
            "utc_offset_minutes: -1440 to 1440 (got {})",
            p.utc_offset_minutes
        )));
    }
    Ok(())
}

/// Check a topic subscription's topic.
///
/// # Errors
/// [`Error::Invalid`].
pub fn topic(t: &TopicSubscription) -> Result<(), Error> {
    text("topic", &t.topic, TOPIC)
}

/// Check priority settings.
///
/// # Errors
/// [`Error::Invalid`] naming the first field over its limit.
pub fn priority(s: &PrioritySettings) -> Result<(), Error> {
    // One level per relationship kind at most (there are 14 kinds).
    list("per_relationship", &s.per_relationship, 14)?;
    list("per_topic", &s.per_topic, RULES)?;
    for (i, (t, _)) in s.per_topic.iter().enumerate() {
        text(&format!("per_topic[{i}]"), t, TOPIC)?;
    }
    list("time_rules", &s.time_rules, RULES)?;
    texts("emergency_keywords", &s.emergency_keywords, RULES, KEYWORD)?;
    list("blocked_senders", &s.blocked_senders, PEOPLE)?;
    Ok(())
}

/// Check a contact request's note.
///
/// # Errors
/// [`Error::Invalid`].
pub fn note(n: &str) -> Result<(), Error> {
    text("note", n, NOTE)
}

/// Check a discovery's text and hints.
///
/// # Errors
/// [`Error::Invalid`] naming the first field over its limit.
pub fn query(q: &crate::Query) -> Result<(), Error> {
    text("text", &q.text, QUERY_TEXT)?;
    let h = &q.hints;
    for (name, v) in [
        ("hints.organization", &h.organization),
        ("hints.domain", &h.domain),
        ("hints.role", &h.role),
        ("hints.capability", &h.capability),
        ("hints.language", &h.language),
    ] {
        opt(name, v.as_deref(), HINT)?;
    }
    opt("topic", q.topic.as_deref(), TOPIC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EntityType, ParticipantId};

    fn p() -> Participant {
        Participant::new(
            ParticipantId::parse("a@x.example").unwrap(),
            EntityType::Human,
            "A",
        )
    }

    #[test]
    fn every_limit_names_its_field() {
        let mut x = p();
        assert!(participant(&x).is_ok());
        x.identities[0].name = "n".repeat(NAME);
        assert!(participant(&x).is_ok());
        x.identities[0].name.push('n');
        let e = participant(&x).unwrap_err().to_string();
        assert!(e.contains("identities[0].name: at most 200 bytes"), "{e}");
        let mut x = p();
        x.identities[0].capabilities = vec!["c".into(); TAGS + 1];
        let e = participant(&x).unwrap_err().to_string();
        assert!(e.contains("identities[0].capabilities: at most 50"), "{e}");
        let mut x = p();
        x.permissions.blocked_domains = vec!["d".repeat(DOMAIN + 1)];
        let e = participant(&x).unwrap_err().to_string();
        assert!(e.contains("permissions.blocked_domains[0]"), "{e}");
    }
}
