//! RFC 3842: message summaries (the voicemail lamp).

use registrar_pidf::{Error, MessageClass, MessageCounts, MessageSummary};

#[test]
fn s3_5_example_with_every_part() {
    // RFC 3842 §3.5's NOTIFY body, with the optional message headers after the blank line.
    let body = "Messages-Waiting: yes\r\nMessage-Account: sip:alice@vmail.example.com\r\nVoice-Message: 4/8 (1/2)\r\n\r\nTo: <alice@atlanta.example.com>\r\nFrom: <bob@biloxi.example.com>\r\nSubject: carpool tomorrow?\r\nDate: Sun, 09 Jan 2004 16:45:00 CST\r\nPriority: normal\r\nMessage-ID: 13784434989@vmail.example.com\r\n";
    let s = MessageSummary::parse(body.as_bytes()).unwrap();
    assert!(s.waiting);
    assert_eq!(s.account.as_deref(), Some("sip:alice@vmail.example.com"));
    assert_eq!(
        s.counts,
        [MessageCounts::new(MessageClass::Voice, 4, 8, Some((1, 2)))]
    );
    assert_eq!(s.headers.len(), 6);
    assert_eq!(s.headers[2], ("Subject".into(), "carpool tomorrow?".into()));
    assert_eq!(s.to_text(), body);
}

#[test]
fn s5_2_several_classes_and_what_phones_send() {
    // As Asterisk and the Yealink / Polycom phones' servers write it: LF line ends, no account.
    let s = MessageSummary::parse(
        b"Messages-Waiting: no\nVoice-Message: 0/2 (0/0)\nFax-Message: 0/1\nText-Message: 0/0\n",
    )
    .unwrap();
    assert!(!s.waiting);
    let classes: Vec<_> = s.counts.iter().map(|c| c.class.clone()).collect();
    assert_eq!(
        classes,
        [MessageClass::Voice, MessageClass::Fax, MessageClass::Text]
    );
    assert_eq!(s.voice(), (0, 2));
}

#[test]
fn malformed_summaries_say_which_line() {
    let e =
        MessageSummary::parse(b"Messages-Waiting: yes\r\nVoice-Message: two/1\r\n").unwrap_err();
    assert!(matches!(e, Error::Summary { line: 2, .. }), "{e}");
    let e = MessageSummary::parse(&vec![b'a'; 70_000]).unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e}");
    let many: String = (0..400).map(|i| format!("X-{i}: v\n")).collect();
    let body = format!("Messages-Waiting: yes\n\n{many}");
    assert!(MessageSummary::parse(body.as_bytes()).is_err());
    assert!(matches!(
        MessageSummary::parse(b"Messages-Waiting: yes\n\xff\n"),
        Err(Error::InvalidUtf8 { line: 2 })
    ));
}
