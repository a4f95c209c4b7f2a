//! The priority engine: what a message to a participant is worth to them, and a per-participant queue
//! that hands messages out by that worth.
//!
//! A [`Message`] (sender, recipient, text, topic, time) and the recipient's [`PrioritySettings`] give a
//! [`PriorityDecision`]: deliver at a [`Priority`], hold (quiet time), or block, with the reasons in order.
//! The rules, in order (documented in docs/directory.md):
//!
//! 1. Blocks win: a sender the recipient blocks (by id, domain or organization, in their discovery
//!    permissions or their priority settings) is blocked, whatever else holds.
//! 2. The level starts at the recipient's default; a relationship the recipient declared to the sender (a
//!    mutual one is one both declared; the sender's claim alone counts for nothing) sets it from the
//!    per-relationship setting, or else from the built-in
//!    default of that relationship kind ([`relationship_default`]); a matching per-topic setting raises it
//!    when higher.
//! 3. An emergency keyword in the text makes it [`Priority::Emergency`].
//! 4. Time rules, in the recipient's local time (their UTC offset), in the order they are listed: raise or
//!    lower one step, block (hold until the quiet time ends; emergencies pass) or force (deliver, no hold).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::model::{ParticipantId, RelationshipKind};

/// How much a message matters to its recipient, lowest first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Priority {
    /// Whenever convenient.
    Low,
    /// Ordinary.
    #[default]
    Normal,
    /// Soon.
    High,
    /// Now.
    Urgent,
    /// An emergency: passes quiet time.
    Emergency,
}

impl Priority {
    const fn up(self) -> Self {
        match self {
            Self::Low => Self::Normal,
            Self::Normal => Self::High,
            Self::High | Self::Urgent => Self::Urgent,
            Self::Emergency => Self::Emergency,
        }
    }

    const fn down(self) -> Self {
        match self {
            Self::Low | Self::Normal => Self::Low,
            Self::High => Self::Normal,
            Self::Urgent => Self::High,
            Self::Emergency => Self::Emergency,
        }
    }
}

/// The built-in level of a relationship kind, used when the recipient set none for it.
pub const fn relationship_default(kind: RelationshipKind) -> Priority {
    match kind {
        RelationshipKind::Boss | RelationshipKind::Family => Priority::High,
        RelationshipKind::DirectReport
        | RelationshipKind::TeamMember
        | RelationshipKind::Colleague
        | RelationshipKind::Collaborator
        | RelationshipKind::Friend
        | RelationshipKind::Customer
        | RelationshipKind::Support
        | RelationshipKind::ServiceProvider => Priority::Normal,
        RelationshipKind::Acquaintance
        | RelationshipKind::Bot
        | RelationshipKind::Service
        | RelationshipKind::Monitor => Priority::Low,
    }
}

/// The kind as seen from the other end (`to` is `from`'s boss ⇔ `from` is `to`'s direct report).
pub const fn inverse(kind: RelationshipKind) -> RelationshipKind {
    match kind {
        RelationshipKind::Boss => RelationshipKind::DirectReport,
        RelationshipKind::DirectReport => RelationshipKind::Boss,
        RelationshipKind::ServiceProvider => RelationshipKind::Customer,
        RelationshipKind::Customer => RelationshipKind::ServiceProvider,
        other => other,
    }
}

/// What a time rule does while it holds.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TimeAction {
    /// One level up.
    Raise,
    /// One level down.
    Lower,
    /// Hold delivery (quiet time); emergencies pass.
    Block,
    /// Deliver now, whatever the other time rules say (blocked senders stay blocked).
    Force,
}

/// A rule that holds on some days between two local times.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRule {
    /// Days it holds, bit 0 = Monday … bit 6 = Sunday (0: every day).
    #[serde(default)]
    pub days: u8,
    /// Start, minutes after local midnight.
    pub start_minute: u16,
    /// End (exclusive), minutes after local midnight; before `start_minute`, the rule runs past midnight.
    pub end_minute: u16,
    /// What it does.
    pub action: TimeAction,
}

impl TimeRule {
    /// Whether it holds at `local_minute_of_week` (0 = Monday 00:00).
    fn holds(&self, local_minute_of_week: u32) -> bool {
        let day = local_minute_of_week / 1440;
        let minute = local_minute_of_week % 1440;
        let start = u32::from(self.start_minute.min(1439));
        let end = u32::from(self.end_minute.min(1440));
        let on = |d: u32| self.days == 0 || self.days & (1 << (d % 7)) != 0;
        if start <= end {
            on(day) && minute >= start && minute < end
        } else {
            // Past midnight: the evening part belongs to today, the morning part to yesterday's rule.
            (on(day) && minute >= start) || (on((day + 6) % 7) && minute < end)
        }
    }
}

/// A participant's priority settings.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrioritySettings {
    /// Whose.
    pub participant: ParticipantId,
    /// The level of a message nothing else applies to.
    #[serde(default)]
    pub default: Priority,
    /// Levels by the recipient's relationship to the sender.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 14))]
    pub per_relationship: Vec<(RelationshipKind, Priority)>,
    /// Levels by topic (lower-case).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub per_topic: Vec<(String, Priority)>,
    /// Time rules, in order.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub time_rules: Vec<TimeRule>,
    /// Words that make a message an emergency (whole words, any case).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub emergency_keywords: Vec<String>,
    /// Senders whose messages are blocked (in addition to the discovery block lists).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 500))]
    pub blocked_senders: Vec<ParticipantId>,
}

impl PrioritySettings {
    /// Settings of `participant` with nothing set (everything normal).
    pub fn new(participant: ParticipantId) -> Self {
        Self {
            participant,
            default: Priority::Normal,
            per_relationship: Vec::new(),
            per_topic: Vec::new(),
            time_rules: Vec::new(),
            emergency_keywords: Vec::new(),
            blocked_senders: Vec::new(),
        }
    }
}

/// A message to prioritize.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Sender (`None`: anonymous).
    pub sender: Option<ParticipantId>,
    /// Recipient.
    pub recipient: ParticipantId,
    /// Subject and text, searched for emergency keywords.
    pub text: String,
    /// Topic, when the sender gave one.
    pub topic: Option<String>,
    /// When it was sent, ms since the Unix epoch.
    pub at_ms: u64,
}

/// What happens to a message.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Delivery {
    /// Deliver now.
    Deliver,
    /// Hold until the quiet time ends.
    Hold,
    /// Do not deliver.
    Block,
}

/// The priority of a message, with why.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct PriorityDecision {
    /// Deliver, hold or block.
    pub delivery: Delivery,
    /// The level.
    pub priority: Priority,
    /// The rules that applied, in order.
    pub explanation: Vec<String>,
}

/// What the engine knows about the sender, from the directory.
#[derive(Clone, Debug, Default)]
pub struct SenderFacts {
    /// The sender is blocked by the recipient's discovery block lists.
    pub blocked: bool,
    /// The recipient's relationship to the sender.
    pub relationship: Option<RelationshipKind>,
}

/// Minute of the week (0 = Monday 00:00) at `at_ms` in a zone `offset_minutes` from UTC.
fn local_minute_of_week(at_ms: u64, offset_minutes: i16) -> u32 {
    let minutes = i64::try_from(at_ms / 60_000).unwrap_or(i64::MAX) + i64::from(offset_minutes);
    // 1970-01-01 was a Thursday: minute 0 of the epoch is minute 3 × 1440 of its week.
    let week = 7 * 1440;
    u32::try_from((minutes + 3 * 1440).rem_euclid(week)).unwrap_or(0)
}

fn has_word(text: &str, word: &str) -> bool {
    let word = word.trim();
    !word.is_empty()
        && text
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w.eq_ignore_ascii_case(word))
}

/// The priority of `m` for a recipient with `settings` in a zone `utc_offset_minutes` from UTC.
pub fn prioritize(
    m: &Message,
    settings: &PrioritySettings,
    utc_offset_minutes: i16,
    sender: &SenderFacts,
) -> PriorityDecision {
    let mut why = Vec::new();
    let blocked_here = m
        .sender
        .as_ref()
        .is_some_and(|s| settings.blocked_senders.contains(s));
    if sender.blocked || blocked_here {
        why.push("the sender is blocked".to_owned());
        return PriorityDecision {
            delivery: Delivery::Block,
            priority: Priority::Low,
            explanation: why,
        };
    }
    let mut level = settings.default;
    why.push(format!("default {}", name(level)));
    if let Some(kind) = sender.relationship {
        let set = settings
            .per_relationship
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, p)| *p);
        level = set.unwrap_or_else(|| relationship_default(kind));
        why.push(format!(
            "{} relationship: {}{}",
            kind_name(kind),
            name(level),
            if set.is_some() { "" } else { " (built-in)" }
        ));
    }
    if let Some(topic) = &m.topic {
        let topic = topic.trim().to_lowercase();
        if let Some((t, p)) = settings.per_topic.iter().find(|(t, _)| *t == topic)
            && *p > level
        {
            level = *p;
            why.push(format!("topic {t}: {}", name(level)));
        }
    }
    if let Some(k) = settings
        .emergency_keywords
        .iter()
        .find(|k| has_word(&m.text, k))
    {
        level = Priority::Emergency;
        why.push(format!("emergency keyword \"{}\"", k.trim()));
    }
    let minute = local_minute_of_week(m.at_ms, utc_offset_minutes);
    let (mut hold, mut forced) = (false, false);
    for r in settings.time_rules.iter().filter(|r| r.holds(minute)) {
        match r.action {
            TimeAction::Raise => {
                level = level.up();
                why.push(format!("time rule raises to {}", name(level)));
            }
            TimeAction::Lower => {
                level = level.down();
                why.push(format!("time rule lowers to {}", name(level)));
            }
            TimeAction::Block => {
                if level == Priority::Emergency {
                    why.push("quiet time, but an emergency passes".to_owned());
                } else {
                    hold = true;
                    why.push("quiet time: held".to_owned());
                }
            }
            TimeAction::Force => {
                forced = true;
                why.push("time rule forces delivery".to_owned());
            }
        }
    }
    PriorityDecision {
        delivery: if hold && !forced {
            Delivery::Hold
        } else {
            Delivery::Deliver
        },
        priority: level,
        explanation: why,
    }
}

/// The name of a level in explanations.
pub const fn name(p: Priority) -> &'static str {
    match p {
        Priority::Low => "low",
        Priority::Normal => "normal",
        Priority::High => "high",
        Priority::Urgent => "urgent",
        Priority::Emergency => "emergency",
    }
}

const fn kind_name(k: RelationshipKind) -> &'static str {
    match k {
        RelationshipKind::Boss => "boss",
        RelationshipKind::DirectReport => "direct report",
        RelationshipKind::Colleague => "colleague",
        RelationshipKind::Collaborator => "collaborator",
        RelationshipKind::TeamMember => "team member",
        RelationshipKind::Family => "family",
        RelationshipKind::Friend => "friend",
        RelationshipKind::Acquaintance => "acquaintance",
        RelationshipKind::ServiceProvider => "service provider",
        RelationshipKind::Customer => "customer",
        RelationshipKind::Support => "support",
        RelationshipKind::Bot => "bot",
        RelationshipKind::Service => "service",
        RelationshipKind::Monitor => "monitor",
    }
}

/// One participant's pending messages: highest priority first, first in first out within a level, at most
/// `capacity` (when full, a message above the lowest pending one evicts the newest of the lowest level;
/// otherwise the new message is refused).
#[derive(Debug)]
pub struct PriorityQueue<T> {
    items: BTreeMap<(std::cmp::Reverse<Priority>, u64), T>,
    seq: u64,
    capacity: usize,
}

impl<T> PriorityQueue<T> {
    /// An empty queue holding at most `capacity` (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            items: BTreeMap::new(),
            seq: 0,
            capacity: capacity.max(1),
        }
    }

    /// Queue `item` at `priority`; returns the message that did not fit (the new one or an evicted one).
    pub fn push(&mut self, priority: Priority, item: T) -> Option<T> {
        let mut dropped = None;
        if self.items.len() >= self.capacity {
            let lowest = self.items.keys().next_back().map(|k| k.0.0);
            match lowest {
                Some(l) if priority > l => {
                    dropped = self.items.pop_last().map(|(_, v)| v);
                }
                _ => return Some(item),
            }
        }
        self.seq += 1;
        self.items
            .insert((std::cmp::Reverse(priority), self.seq), item);
        dropped
    }

    /// The most important, oldest message.
    pub fn pop(&mut self) -> Option<(Priority, T)> {
        self.items.pop_first().map(|((p, _), v)| (p.0, v))
    }

    /// The level of the next message.
    pub fn peek_priority(&self) -> Option<Priority> {
        self.items.keys().next().map(|k| k.0.0)
    }

    /// Messages pending.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether none is pending.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A [`PriorityQueue`] per recipient.
#[derive(Debug)]
pub struct PriorityQueues<T> {
    queues: HashMap<ParticipantId, PriorityQueue<T>>,
    capacity: usize,
}

impl<T> PriorityQueues<T> {
    /// Queues of at most `capacity_each` messages.
    pub fn new(capacity_each: usize) -> Self {
        Self {
            queues: HashMap::new(),
            capacity: capacity_each,
        }
    }

    /// Queue `item` for `recipient` at `priority` (see [`PriorityQueue::push`]).
    pub fn push(&mut self, recipient: &ParticipantId, priority: Priority, item: T) -> Option<T> {
        let cap = self.capacity;
        self.queues
            .entry(recipient.clone())
            .or_insert_with(|| PriorityQueue::new(cap))
            .push(priority, item)
    }

    /// The next message for `recipient`.
    pub fn pop(&mut self, recipient: &ParticipantId) -> Option<(Priority, T)> {
        let q = self.queues.get_mut(recipient)?;
        let next = q.pop();
        if q.is_empty() {
            self.queues.remove(recipient);
        }
        next
    }

    /// Messages pending for `recipient`.
    pub fn len(&self, recipient: &ParticipantId) -> usize {
        self.queues.get(recipient).map_or(0, PriorityQueue::len)
    }

    /// Drop everything queued for `recipient` (erasure).
    pub fn clear(&mut self, recipient: &ParticipantId) {
        self.queues.remove(recipient);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ParticipantId {
        ParticipantId::parse(s).unwrap()
    }

    // 2026-11-23 was a Monday.
    const MONDAY_MIDNIGHT_UTC: u64 = 1_795_392_000_000;

    fn at(day: u64, hour: u64, minute: u64) -> u64 {
        MONDAY_MIDNIGHT_UTC + ((day * 24 + hour) * 60 + minute) * 60_000
    }

    fn msg(text: &str, at_ms: u64) -> Message {
        Message {
            sender: Some(id("bob@x.com")),
            recipient: id("alice@x.com"),
            text: text.into(),
            topic: None,
            at_ms,
        }
    }

    #[test]
    fn the_week_starts_on_monday_in_the_recipients_zone() {
        assert_eq!(local_minute_of_week(MONDAY_MIDNIGHT_UTC, 0), 0);
        // Monday 00:00 UTC is Sunday 23:00 one hour west.
        assert_eq!(
            local_minute_of_week(MONDAY_MIDNIGHT_UTC, -60),
            7 * 1440 - 60
        );
        assert_eq!(
            local_minute_of_week(at(2, 13, 30), 120),
            2 * 1440 + 15 * 60 + 30
        );
    }

    #[test]
    fn relationship_defaults_and_settings_and_topics() {
        let s = PrioritySettings::new(id("alice@x.com"));
        let boss = SenderFacts {
            relationship: Some(RelationshipKind::Boss),
            ..SenderFacts::default()
        };
        let d = prioritize(&msg("hi", at(0, 10, 0)), &s, 0, &boss);
        assert_eq!(
            (d.delivery, d.priority),
            (Delivery::Deliver, Priority::High)
        );
        assert!(
            d.explanation
                .iter()
                .any(|e| e.contains("boss relationship: high (built-in)"))
        );

        let mut s = PrioritySettings::new(id("alice@x.com"));
        s.per_relationship
            .push((RelationshipKind::Boss, Priority::Low));
        s.per_topic.push(("outage".into(), Priority::Urgent));
        let d = prioritize(&msg("hi", at(0, 10, 0)), &s, 0, &boss);
        assert_eq!(d.priority, Priority::Low);
        let mut m = msg("hi", at(0, 10, 0));
        m.topic = Some("Outage".into());
        assert_eq!(prioritize(&m, &s, 0, &boss).priority, Priority::Urgent);
    }

    #[test]
    fn blocks_win_over_emergencies_and_forced_delivery() {
        let mut s = PrioritySettings::new(id("alice@x.com"));
        s.emergency_keywords.push("fire".into());
        s.time_rules.push(TimeRule {
            days: 0,
            start_minute: 0,
            end_minute: 1440,
            action: TimeAction::Force,
        });
        s.blocked_senders.push(id("bob@x.com"));
        let d = prioritize(&msg("FIRE!", at(0, 3, 0)), &s, 0, &SenderFacts::default());
        assert_eq!(d.delivery, Delivery::Block);
        let d = prioritize(
            &msg("fire", at(0, 3, 0)),
            &PrioritySettings::new(id("alice@x.com")),
            0,
            &SenderFacts {
                blocked: true,
                relationship: Some(RelationshipKind::Family),
            },
        );
        assert_eq!(d.delivery, Delivery::Block);
    }

    #[test]
    fn quiet_hours_hold_past_midnight_and_emergencies_pass() {
        let mut s = PrioritySettings::new(id("alice@x.com"));
        s.emergency_keywords.push("outage".into());
        // Weekdays 22:00–07:00 local.
        s.time_rules.push(TimeRule {
            days: 0b001_1111,
            start_minute: 22 * 60,
            end_minute: 7 * 60,
            action: TimeAction::Block,
        });
        let none = SenderFacts::default();
        // Tuesday 23:30 local (UTC+1 → 22:30 UTC).
        let d = prioritize(&msg("lunch?", at(1, 22, 30)), &s, 60, &none);
        assert_eq!(d.delivery, Delivery::Hold, "{:?}", d.explanation);
        // Wednesday 06:59 local: still the Tuesday rule.
        assert_eq!(
            prioritize(&msg("lunch?", at(2, 5, 59)), &s, 60, &none).delivery,
            Delivery::Hold
        );
        // Wednesday 07:00 local: over.
        assert_eq!(
            prioritize(&msg("lunch?", at(2, 6, 0)), &s, 60, &none).delivery,
            Delivery::Deliver
        );
        // Saturday 23:30 local: weekends are not quiet; Saturday night → Sunday morning neither.
        assert_eq!(
            prioritize(&msg("lunch?", at(5, 22, 30)), &s, 60, &none).delivery,
            Delivery::Deliver
        );
        // Friday 23:30 → held; "OUTAGE" in the text passes.
        let d = prioritize(&msg("db OUTAGE now", at(4, 22, 30)), &s, 60, &none);
        assert_eq!(
            (d.delivery, d.priority),
            (Delivery::Deliver, Priority::Emergency)
        );
        // Keywords are whole words.
        assert_eq!(
            prioritize(&msg("outages report", at(4, 22, 30)), &s, 60, &none).delivery,
            Delivery::Hold
        );
    }

    #[test]
    fn raise_lower_and_force() {
        let mut s = PrioritySettings::new(id("alice@x.com"));
        s.time_rules = vec![
            TimeRule {
                days: 0,
                start_minute: 9 * 60,
                end_minute: 17 * 60,
                action: TimeAction::Raise,
            },
            TimeRule {
                days: 0,
                start_minute: 12 * 60,
                end_minute: 13 * 60,
                action: TimeAction::Lower,
            },
            TimeRule {
                days: 0,
                start_minute: 0,
                end_minute: 24 * 60,
                action: TimeAction::Block,
            },
            TimeRule {
                days: 1,
                start_minute: 0,
                end_minute: 24 * 60,
                action: TimeAction::Force,
            },
        ];
        let none = SenderFacts::default();
        let d = prioritize(&msg("x", at(1, 10, 0)), &s, 0, &none);
        assert_eq!((d.delivery, d.priority), (Delivery::Hold, Priority::High));
        let d = prioritize(&msg("x", at(1, 12, 30)), &s, 0, &none);
        assert_eq!(d.priority, Priority::Normal);
        // Mondays: forced.
        let d = prioritize(&msg("x", at(0, 12, 30)), &s, 0, &none);
        assert_eq!(d.delivery, Delivery::Deliver);
        assert_eq!(d.explanation.last().unwrap(), "time rule forces delivery");
    }

    #[test]
    fn queues_order_by_priority_then_age_and_stay_bounded() {
        let mut q = PriorityQueue::new(3);
        assert!(q.push(Priority::Normal, "n1").is_none());
        assert!(q.push(Priority::Low, "l1").is_none());
        assert!(q.push(Priority::Normal, "n2").is_none());
        // Full: a low message is refused, an urgent one evicts the newest lowest.
        assert_eq!(q.push(Priority::Low, "l2"), Some("l2"));
        assert_eq!(q.push(Priority::Urgent, "u1"), Some("l1"));
        assert_eq!(q.len(), 3);
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, v)| v).collect();
        assert_eq!(order, ["u1", "n1", "n2"]);

        let mut qs = PriorityQueues::new(2);
        let a = id("a@x.com");
        qs.push(&a, Priority::Low, 1);
        qs.push(&a, Priority::High, 2);
        assert_eq!(qs.len(&a), 2);
        assert_eq!(qs.pop(&a), Some((Priority::High, 2)));
        assert_eq!(qs.pop(&a), Some((Priority::Low, 1)));
        assert_eq!(qs.pop(&a), None);
    }
}
