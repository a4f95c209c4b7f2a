//! Message waiting (RFC 3842): the `application/simple-message-summary` body of `message-summary`
//! NOTIFYs and PUBLISHes, what lights a phone's voicemail lamp.
//!
//! ```text
//! Messages-Waiting: yes
//! Message-Account: sip:alice@vmail.example.com
//! Voice-Message: 2/8 (0/2)
//! ```
//!
//! Header names are matched without regard to case and the line ends may be CRLF or LF, as phones and
//! voicemail servers write them; the counts are strict (decimal, at most 2^32 - 1). Optional message headers
//! after the blank line are kept as written.

use crate::Error;

/// The message-context classes (RFC 3458) a summary line counts.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
#[non_exhaustive]
pub enum MessageClass {
    /// `Voice-Message`
    Voice,
    /// `Fax-Message`
    Fax,
    /// `Pager-Message`
    Pager,
    /// `Multimedia-Message`
    Multimedia,
    /// `Text-Message`
    Text,
    /// `None`
    None,
}

impl MessageClass {
    const ALL: [Self; 6] = [
        Self::Voice,
        Self::Fax,
        Self::Pager,
        Self::Multimedia,
        Self::Text,
        Self::None,
    ];

    /// The header name, as RFC 3842 writes it.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Voice => "Voice-Message",
            Self::Fax => "Fax-Message",
            Self::Pager => "Pager-Message",
            Self::Multimedia => "Multimedia-Message",
            Self::Text => "Text-Message",
            Self::None => "None",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(name))
    }
}

/// One summary line: `Voice-Message: new/old (urgent_new/urgent_old)`.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct MessageCounts {
    /// Which messages.
    pub class: MessageClass,
    /// New messages.
    pub new: u32,
    /// Old (heard) messages.
    pub old: u32,
    /// New and old urgent messages, when given.
    pub urgent: Option<(u32, u32)>,
}

impl MessageCounts {
    /// Counts of `class`.
    pub const fn new(class: MessageClass, new: u32, old: u32, urgent: Option<(u32, u32)>) -> Self {
        Self {
            class,
            new,
            old,
            urgent,
        }
    }
}

/// A message summary.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct MessageSummary {
    /// `Messages-Waiting: yes` or `no`.
    pub waiting: bool,
    /// `Message-Account`: the mailbox's URI.
    pub account: Option<String>,
    /// The summary lines, in document order (one per class).
    pub counts: Vec<MessageCounts>,
    /// Optional message headers after the blank line (RFC 3842 §5.2), as (name, value).
    pub headers: Vec<(String, String)>,
}

/// The most summary lines and optional headers read (a real summary has a handful).
const MAX_LINES: usize = 256;

/// The largest summary read, in bytes.
const MAX_BYTES: usize = 64 * 1024;

impl MessageSummary {
    /// A summary whose waiting flag follows `counts`: yes when some class has new messages.
    pub fn from_counts(account: Option<&str>, counts: Vec<MessageCounts>) -> Self {
        Self {
            waiting: counts.iter().any(|c| c.new > 0),
            account: account.map(str::to_owned),
            counts,
            headers: Vec::new(),
        }
    }

    /// New voice messages, old voice messages (0 when there is no `Voice-Message` line).
    pub fn voice(&self) -> (u32, u32) {
        self.counts
            .iter()
            .find(|c| c.class == MessageClass::Voice)
            .map_or((0, 0), |c| (c.new, c.old))
    }

    /// Parse a summary.
    ///
    /// # Errors
    /// [`Error::Summary`] with the line and what is wrong; [`Error::TooLarge`], [`Error::Empty`],
    /// [`Error::InvalidUtf8`].
    pub fn parse(input: &[u8]) -> Result<Self, Error> {
        if input.len() > MAX_BYTES {
            return Err(Error::TooLarge {
                size: input.len(),
                max: MAX_BYTES,
            });
        }
        let text = std::str::from_utf8(input).map_err(|e| Error::InvalidUtf8 {
            line: 1 + input[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count(),
        })?;
        if text.trim().is_empty() {
            return Err(Error::Empty);
        }
        let bad = |line: usize, message: &str| Error::Summary {
            line,
            message: message.to_owned(),
        };
        let mut s = Self::default();
        let mut status = false;
        let mut in_headers = false;
        let mut lines = 0;
        for (i, raw) in text.split('\n').enumerate() {
            let line = i + 1;
            let l = raw.strip_suffix('\r').unwrap_or(raw);
            if l.trim().is_empty() {
                if status {
                    in_headers = true;
                }
                continue;
            }
            lines += 1;
            if lines > MAX_LINES + 2 {
                return Err(bad(line, "more lines than a message summary may have"));
            }
            if l.chars().any(|c| c.is_control() && c != '\t') {
                return Err(bad(line, "control character"));
            }
            let Some((name, value)) = l.split_once(':') else {
                return Err(bad(line, "expected `Name: value`"));
            };
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(bad(line, "expected a header name before `:`"));
            }
            if in_headers {
                s.headers.push((name.to_owned(), value.to_owned()));
                continue;
            }
            if !status {
                if !name.eq_ignore_ascii_case("Messages-Waiting") {
                    return Err(bad(
                        line,
                        "the first line must be `Messages-Waiting: yes|no`",
                    ));
                }
                s.waiting = match value.to_ascii_lowercase().as_str() {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(bad(line, "Messages-Waiting must be yes or no")),
                };
                status = true;
            } else if name.eq_ignore_ascii_case("Message-Account") {
                if s.account.is_some() || !s.counts.is_empty() {
                    return Err(bad(
                        line,
                        "Message-Account comes once, before the summary lines",
                    ));
                }
                if value.is_empty() {
                    return Err(bad(line, "Message-Account without a URI"));
                }
                s.account = Some(value.to_owned());
            } else if let Some(class) = MessageClass::from_name(name) {
                if s.counts.iter().any(|c| c.class == class) {
                    return Err(bad(line, "a message class counted twice"));
                }
                s.counts.push(parse_counts(class, value).ok_or_else(|| {
                    bad(
                        line,
                        "expected `new/old` or `new/old (urgent-new/urgent-old)` counts",
                    )
                })?);
            } else {
                // A header without the blank line before it (some servers omit it): kept as a header.
                in_headers = true;
                s.headers.push((name.to_owned(), value.to_owned()));
            }
        }
        if !status {
            return Err(bad(1, "the first line must be `Messages-Waiting: yes|no`"));
        }
        Ok(s)
    }

    /// The body, with CRLF line ends (deterministic).
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = write!(
            out,
            "Messages-Waiting: {}\r\n",
            if self.waiting { "yes" } else { "no" }
        );
        if let Some(a) = &self.account {
            let _ = write!(out, "Message-Account: {a}\r\n");
        }
        for c in &self.counts {
            let _ = write!(out, "{}: {}/{}", c.class.as_str(), c.new, c.old);
            if let Some((n, o)) = c.urgent {
                let _ = write!(out, " ({n}/{o})");
            }
            out.push_str("\r\n");
        }
        if !self.headers.is_empty() {
            out.push_str("\r\n");
            for (n, v) in &self.headers {
                let _ = write!(out, "{n}: {v}\r\n");
            }
        }
        out
    }
}

fn parse_pair(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('/')?;
    let num = |v: &str| {
        let v = v.trim();
        (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.parse().ok())
            .flatten()
    };
    Some((num(a)?, num(b)?))
}

fn parse_counts(class: MessageClass, value: &str) -> Option<MessageCounts> {
    let (main, urgent) = match value.split_once('(') {
        Some((m, rest)) => {
            let inner = rest.trim_end().strip_suffix(')')?;
            (m, Some(parse_pair(inner)?))
        }
        None => (value, None),
    };
    let (new, old) = parse_pair(main)?;
    Some(MessageCounts::new(class, new, old, urgent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_3842_example_reads_and_writes_back() {
        let body = "Messages-Waiting: yes\r\nMessage-Account: sip:alice@vmail.example.com\r\nVoice-Message: 2/8 (0/2)\r\n";
        let s = MessageSummary::parse(body.as_bytes()).unwrap();
        assert!(s.waiting);
        assert_eq!(s.account.as_deref(), Some("sip:alice@vmail.example.com"));
        assert_eq!(
            s.counts,
            [MessageCounts::new(MessageClass::Voice, 2, 8, Some((0, 2)))]
        );
        assert_eq!(s.to_text(), body);
    }

    #[test]
    fn lenient_where_phones_are_strict_on_counts() {
        let s = MessageSummary::parse(b"messages-waiting:NO\nvoice-message: 0/3\n").unwrap();
        assert!(!s.waiting);
        assert_eq!(s.voice(), (0, 3));
        for bad in [
            &b"Voice-Message: 1/2\n"[..],
            b"Messages-Waiting: maybe\n",
            b"Messages-Waiting: yes\nVoice-Message: 1\n",
            b"Messages-Waiting: yes\nVoice-Message: -1/2\n",
            b"Messages-Waiting: yes\nVoice-Message: 99999999999/2\n",
            b"Messages-Waiting: yes\nVoice-Message: 1/2 (1/\n",
            b"Messages-Waiting: yes\nVoice-Message: 1/2\nVoice-Message: 1/2\n",
            b"Messages-Waiting: yes\nno colon\n",
            b"",
        ] {
            assert!(
                MessageSummary::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn optional_headers_follow_the_blank_line() {
        let body = "Messages-Waiting: yes\r\nVoice-Message: 1/0\r\n\r\nTo: <sip:alice@example.com>\r\nSubject: hello\r\n";
        let s = MessageSummary::parse(body.as_bytes()).unwrap();
        assert_eq!(s.headers.len(), 2);
        assert_eq!(s.to_text(), body);
    }
}
