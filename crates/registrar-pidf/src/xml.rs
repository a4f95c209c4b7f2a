//! A namespace-aware XML tree with the hardening every network document needs, and a deterministic writer.
//!
//! Reading refuses DOCTYPE (so no entity is ever defined or expanded, and nothing external is ever read),
//! resolves only the five predefined entities and character references, enforces limits on size, depth and
//! element count before allocating for them, and accepts UTF-8 and ISO-8859-1 (or US-ASCII) input.

use std::borrow::Cow;
use std::fmt::Write as _;

use quick_xml::NsReader;
use quick_xml::XmlVersion;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

use crate::Error;
use crate::ns;

/// The namespace the `xmlns` prefix is bound to; no element or attribute may be in it.
const XMLNS: &str = "http://www.w3.org/2000/xmlns/";

/// Limits applied while reading a document. The defaults suit presence traffic with room to spare.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest document accepted, in bytes (default 1 MiB).
    pub max_bytes: usize,
    /// Deepest element nesting accepted (default 32).
    pub max_depth: usize,
    /// Most elements accepted (default 10 000).
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 1024 * 1024,
            max_depth: 32,
            max_elements: 10_000,
        }
    }
}

impl Limits {
    /// Set the size limit.
    #[must_use]
    pub const fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// Set the depth limit.
    #[must_use]
    pub const fn max_depth(mut self, n: usize) -> Self {
        self.max_depth = n;
        self
    }

    /// Set the element-count limit.
    #[must_use]
    pub const fn max_elements(mut self, n: usize) -> Self {
        self.max_elements = n;
        self
    }
}

/// An expanded XML name: namespace URI (if any) and local name. Prefixes are never kept: two documents that
/// differ only in prefixes read to the same tree.
///
/// Names from the RFCs' vocabulary borrow static strings, so reading a typical document allocates nothing
/// for names.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Name {
    ns: Option<Cow<'static, str>>,
    local: Cow<'static, str>,
}

impl Name {
    /// A name in namespace `ns` (or none).
    pub fn new(ns: Option<&str>, local: &str) -> Self {
        Self {
            ns: ns.map(ns::intern),
            local: ns::intern_local(local),
        }
    }

    /// The namespace URI.
    pub fn ns(&self) -> Option<&str> {
        self.ns.as_deref()
    }

    /// The local name.
    pub fn local(&self) -> &str {
        &self.local
    }

    fn from_parts(ns: Option<Cow<'static, str>>, local: &str) -> Self {
        Self {
            ns,
            local: ns::intern_local(local),
        }
    }

    /// Whether this is `local` in namespace `ns`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns.as_deref() == Some(ns) && self.local == local
    }

    /// `{ns}local`, for messages.
    pub fn expanded(&self) -> String {
        match &self.ns {
            Some(ns) => format!("{{{ns}}}{}", self.local),
            None => self.local.to_string(),
        }
    }
}

/// An attribute: expanded name and value (entities resolved, whitespace normalized as XML requires).
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Attribute {
    /// The name.
    pub name: Name,
    /// The value.
    pub value: String,
}

/// A child of an element.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Node {
    /// An element.
    Element(Element),
    /// Character data (entities resolved, line ends normalized).
    Text(String),
}

/// An element with its attributes and children. Whitespace-only text between child elements is not kept.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct Element {
    /// The name.
    pub name: Name,
    /// Attributes in document order (namespace declarations excluded).
    pub attrs: Vec<Attribute>,
    /// Children in document order.
    pub children: Vec<Node>,
}

impl Element {
    /// An empty element.
    pub const fn new(name: Name) -> Self {
        Self {
            name,
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// An element `local` in `ns` holding `text` (no child when `text` is empty).
    pub fn with_text(ns: &str, local: &str, text: &str) -> Self {
        let mut e = Self::new(Name::new(Some(ns), local));
        if !text.is_empty() {
            e.children.push(Node::Text(text.to_owned()));
        }
        e
    }

    /// Add an attribute without a namespace.
    #[must_use]
    pub fn attr(mut self, local: &str, value: &str) -> Self {
        self.attrs.push(Attribute {
            name: Name::new(None, local),
            value: value.to_owned(),
        });
        self
    }

    /// Add an optional attribute without a namespace.
    #[must_use]
    pub fn attr_opt(self, local: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.attr(local, v),
            None => self,
        }
    }

    /// Add a child element.
    pub fn push(&mut self, child: Self) {
        self.children.push(Node::Element(child));
    }

    /// The value of the attribute `local` without a namespace.
    pub fn attribute(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.name.ns.is_none() && a.name.local == local)
            .map(|a| a.value.as_str())
    }

    /// The concatenated character data directly inside this element.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for c in &self.children {
            if let Node::Text(t) = c {
                out.push_str(t);
            }
        }
        out
    }

    /// Move the character data out (without copying when there is a single text child).
    pub(crate) fn take_text(&mut self) -> String {
        if let [Node::Text(_)] = self.children.as_slice()
            && let Some(Node::Text(t)) = self.children.pop()
        {
            return t;
        }
        self.text()
    }

    /// Child elements in order.
    pub fn elements(&self) -> impl Iterator<Item = &Self> {
        self.children.iter().filter_map(|c| match c {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// Take the attribute `local` (no namespace) out of the element.
    pub(crate) fn take_attr(&mut self, local: &str) -> Option<String> {
        let i = self
            .attrs
            .iter()
            .position(|a| a.name.ns.is_none() && a.name.local == local)?;
        Some(self.attrs.remove(i).value)
    }

    /// Take `xml:lang` out of the element.
    pub(crate) fn take_lang(&mut self) -> Option<String> {
        let i = self.attrs.iter().position(|a| a.name.is(ns::XML, "lang"))?;
        Some(self.attrs.remove(i).value)
    }

    /// Take the child elements out, leaving text.
    pub(crate) fn take_elements(&mut self) -> Vec<Self> {
        if self.children.iter().all(|c| matches!(c, Node::Element(_))) {
            return std::mem::take(&mut self.children)
                .into_iter()
                .filter_map(|c| match c {
                    Node::Element(e) => Some(e),
                    Node::Text(_) => None,
                })
                .collect();
        }
        let mut out = Vec::new();
        let mut kept = Vec::new();
        for c in std::mem::take(&mut self.children) {
            match c {
                Node::Element(e) => out.push(e),
                t @ Node::Text(_) => kept.push(t),
            }
        }
        self.children = kept;
        out
    }
}

/// Read `input` into a tree, enforcing `limits`.
///
/// # Errors
/// Anything in [`Error`] that concerns syntax, encoding, limits, DOCTYPE or entities.
pub fn parse_tree(input: &[u8], limits: &Limits) -> Result<Element, Error> {
    if input.len() > limits.max_bytes {
        return Err(Error::TooLarge {
            size: input.len(),
            max: limits.max_bytes,
        });
    }
    let text = decode(input)?;
    check_chars(&text)?;
    if text.trim().is_empty() {
        return Err(Error::Empty);
    }
    let mut reader = NsReader::from_str(&text);
    {
        let c = reader.config_mut();
        c.check_end_names = true;
        c.expand_empty_elements = false;
        c.trim_text_start = false;
        c.trim_text_end = false;
    }
    let line = |off: u64| line_at(&text, off);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    let mut pending = String::new();
    let mut ns_cache = NsCache::default();

    loop {
        let here = reader.buffer_position();
        let (res, event) = match reader.read_resolved_event() {
            Ok(x) => x,
            Err(e) => {
                return Err(Error::Syntax {
                    message: e.to_string(),
                    line: line(reader.error_position()),
                });
            }
        };
        // Resolve the element's namespace now: the result borrows the reader.
        let element_ns = if matches!(event, Event::Start(_) | Event::Empty(_)) {
            match res {
                ResolveResult::Bound(n) => Ok(Some(ns_cache.get(n.0, &|| line(here))?)),
                ResolveResult::Unbound => Ok(None),
                ResolveResult::Unknown(p) => Err(p),
            }
        } else {
            Ok(None)
        };
        if matches!(event, Event::Start(_) | Event::Empty(_) | Event::End(_)) {
            // Whitespace between tags: indentation.
            pending.clear();
        }
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if root.is_some() {
                    return Err(Error::Syntax {
                        message: "content after the root element".into(),
                        line: line(here),
                    });
                }
                count += 1;
                if count > limits.max_elements {
                    return Err(Error::TooManyElements {
                        max: limits.max_elements,
                        line: line(here),
                    });
                }
                if stack.len() >= limits.max_depth {
                    return Err(Error::TooDeep {
                        max: limits.max_depth,
                        line: line(here),
                    });
                }
                let ns = element_ns.map_err(|prefix| Error::UnboundPrefix {
                    prefix,
                    line: line(here),
                })?;
                if ns.as_deref() == Some(XMLNS) {
                    // Namespaces in XML §3: element names must not have the prefix xmlns.
                    return Err(Error::Syntax {
                        message: "the xmlns prefix is reserved for namespace declarations".into(),
                        line: line(here),
                    });
                }
                let local = e.local_name();
                if !is_ncname(local.as_ref())
                    || e.name().prefix().is_some_and(|p| !is_ncname(p.as_ref()))
                {
                    return Err(Error::Syntax {
                        message: format!("invalid element name {:?}", e.name().as_ref()),
                        line: line(here),
                    });
                }
                let mut attrs = Vec::new();
                for a in e.attributes().with_checks(true) {
                    let a = a.map_err(|err| Error::Syntax {
                        message: err.to_string(),
                        line: line(here),
                    })?;
                    if a.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let (r, alocal) = reader.resolver().resolve_attribute(a.key);
                    if !is_ncname(alocal.as_ref())
                        || a.key.prefix().is_some_and(|p| !is_ncname(p.as_ref()))
                    {
                        return Err(Error::Syntax {
                            message: format!("invalid attribute name {:?}", a.key.as_ref()),
                            line: line(here),
                        });
                    }
                    let ans = match r {
                        ResolveResult::Bound(n) => Some(ns_cache.get(n.0, &|| line(here))?),
                        ResolveResult::Unbound => None,
                        ResolveResult::Unknown(p) if p == "xml" => Some(Cow::Borrowed(ns::XML)),
                        ResolveResult::Unknown(p) => {
                            return Err(Error::UnboundPrefix {
                                prefix: p,
                                line: line(here),
                            });
                        }
                    };
                    let has_refs = a.value.contains('&');
                    let value = a
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|err| entity_error(&err.to_string(), line(here)))?;
                    // Raw characters were checked with the whole input; only references can add new ones.
                    if has_refs {
                        check_chars(&value).map_err(|_| Error::ForbiddenCharacter {
                            code: first_forbidden(&value),
                            line: line(here),
                        })?;
                    }
                    attrs.push(Attribute {
                        name: Name::from_parts(ans, alocal.into_inner()),
                        value: value.into_owned(),
                    });
                }
                let el = Element {
                    name: Name::from_parts(ns, local.into_inner()),
                    attrs,
                    children: Vec::new(),
                };
                if matches!(event, Event::Empty(_)) {
                    close(el, &mut stack, &mut root);
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let Some(el) = stack.pop() else {
                    return Err(Error::Syntax {
                        message: "end tag without start tag".into(),
                        line: line(here),
                    });
                };
                close(el, &mut stack, &mut root);
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                push_text(&mut stack, &content, &mut pending).map_err(|m| syntax(m, line(here)))?;
            }
            Event::CData(c) => {
                let content = c.xml10_content();
                push_text(&mut stack, &content, &mut pending).map_err(|m| syntax(m, line(here)))?;
            }
            Event::GeneralRef(r) => {
                let ch = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(ch)) => ch,
                        _ => {
                            return Err(Error::Syntax {
                                message: format!("invalid character reference &{};", &*r),
                                line: line(here),
                            });
                        }
                    }
                } else {
                    match &*r {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => {
                            return Err(Error::UnknownEntity {
                                name: other.to_owned(),
                                line: line(here),
                            });
                        }
                    }
                };
                if is_forbidden(ch) {
                    return Err(Error::ForbiddenCharacter {
                        code: u32::from(ch),
                        line: line(here),
                    });
                }
                push_text(&mut stack, ch.encode_utf8(&mut [0; 4]), &mut pending)
                    .map_err(|m| syntax(m, line(here)))?;
            }
            Event::DocType(_) => {
                return Err(Error::Doctype { line: line(here) });
            }
            Event::Eof => break,
            Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(Error::Syntax {
            message: format!("<{}> is not closed", open.name.local),
            line: line(text.len() as u64),
        });
    }
    root.ok_or(Error::Empty)
}

fn entity_error(message: &str, line: usize) -> Error {
    // quick-xml reports an unknown entity in an attribute as an escape error naming it.
    if let Some(start) = message.find('\'') {
        let rest = &message[start + 1..];
        if let Some(end) = rest.find('\'')
            && (message.contains("entity") || message.contains("Unrecognized"))
        {
            return Error::UnknownEntity {
                name: rest[..end].trim_matches(['&', ';']).to_owned(),
                line,
            };
        }
    }
    Error::Syntax {
        message: message.to_owned(),
        line,
    }
}

fn close(mut el: Element, stack: &mut [Element], root: &mut Option<Element>) {
    if el.children.iter().any(|c| matches!(c, Node::Element(_))) {
        el.children
            .retain(|c| !matches!(c, Node::Text(t) if t.trim().is_empty()));
    }
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(el)),
        None => *root = Some(el),
    }
}

/// The namespaces of one parse, by the address of their declaration in the input: every element of a
/// document names one of a few declarations, so each is normalized and interned once.
#[derive(Default)]
struct NsCache(Vec<(usize, usize, Cow<'static, str>)>);

impl NsCache {
    fn get(&mut self, raw: &str, line: &dyn Fn() -> usize) -> Result<Cow<'static, str>, Error> {
        let key = (raw.as_ptr() as usize, raw.len());
        if let Some((_, _, v)) = self.0.iter().find(|(p, l, _)| (*p, *l) == key) {
            return Ok(v.clone());
        }
        let v = namespace_value(raw, line)?;
        if self.0.len() < 8 {
            self.0.push((key.0, key.1, v.clone()));
        }
        Ok(v)
    }
}

/// A namespace URI as declared. The resolver hands back the declaration's raw text, so it gets the
/// attribute-value normalization of XML 1.0 §3.3.3 here (literal line ends and tabs become spaces, then
/// references are resolved), or two spellings of one URI would be two namespaces.
fn namespace_value(raw: &str, line: &dyn Fn() -> usize) -> Result<Cow<'static, str>, Error> {
    if !raw.contains(['&', '\t', '\n', '\r']) {
        return Ok(ns::intern(raw));
    }
    let spaced = raw.replace("\r\n", " ").replace(['\t', '\n', '\r'], " ");
    let value =
        quick_xml::escape::unescape(&spaced).map_err(|e| entity_error(&e.to_string(), line()))?;
    if let Err(e) = check_chars(&value) {
        return Err(match e {
            Error::ForbiddenCharacter { code, .. } => {
                Error::ForbiddenCharacter { code, line: line() }
            }
            other => other,
        });
    }
    Ok(ns::intern(&value))
}

/// An XML name without a colon (XML Namespaces §3 NCName), checked loosely for non-ASCII characters: what the
/// writer can write back.
fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_alphabetic() || first == '_')
        && chars
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_') || u32::from(c) >= 0xB7)
}

fn syntax(message: &str, line: usize) -> Error {
    Error::Syntax {
        message: message.to_owned(),
        line,
    }
}

/// Append text to the open element. The error carries no line: computing one costs a scan of the input, so
/// it is done only when an error is reported.
///
/// Whitespace right after a child element is most likely indentation, which is dropped when the element
/// closes; it waits in `pending` (a reused buffer) and is stored only if more character data follows before
/// the next tag, so text split across events (`"\n  "`, `&gt;`) is kept whole.
fn push_text(stack: &mut [Element], text: &str, pending: &mut String) -> Result<(), &'static str> {
    let Some(top) = stack.last_mut() else {
        if text.trim().is_empty() {
            return Ok(());
        }
        return Err("text outside the root element");
    };
    match top.children.last_mut() {
        Some(Node::Text(t)) => t.push_str(text),
        Some(Node::Element(_)) if text.trim().is_empty() => pending.push_str(text),
        Some(Node::Element(_)) if !pending.is_empty() => {
            let mut t = std::mem::take(pending);
            t.push_str(text);
            top.children.push(Node::Text(t));
        }
        _ => top.children.push(Node::Text(text.to_owned())),
    }
    Ok(())
}

fn line_at(text: &str, offset: u64) -> usize {
    let end = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Turn the input into text: UTF-8 (validated) or ISO-8859-1/US-ASCII (transcoded) per the declaration.
fn decode(input: &[u8]) -> Result<Cow<'_, str>, Error> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    if input.starts_with(b"\xFE\xFF") || input.starts_with(b"\xFF\xFE") {
        return Err(Error::UnsupportedEncoding("UTF-16".into()));
    }
    match declared_encoding(input).as_deref() {
        None | Some("utf-8" | "utf8") => {
            std::str::from_utf8(input)
                .map(Cow::Borrowed)
                .map_err(|e| Error::InvalidUtf8 {
                    line: input[..e.valid_up_to()]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count()
                        + 1,
                })
        }
        Some(
            "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "l1" | "us-ascii" | "ascii",
        ) => Ok(match std::str::from_utf8(input) {
            Ok(s) if s.is_ascii() => Cow::Borrowed(s),
            _ => Cow::Owned(input.iter().map(|&b| char::from(b)).collect()),
        }),
        Some(other) => Err(Error::UnsupportedEncoding(other.to_owned())),
    }
}

/// The `encoding` of the XML declaration, lower-cased.
fn declared_encoding(input: &[u8]) -> Option<String> {
    let head = &input[..input.len().min(256)];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&head[..end]).ok()?;
    let after = &decl[decl.find("encoding")? + "encoding".len()..];
    let after = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = after.chars().next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let value = &after[1..];
    Some(value[..value.find(quote)?].to_ascii_lowercase())
}

const fn is_forbidden(c: char) -> bool {
    let c = c as u32;
    (c < 0x20 && c != 0x09 && c != 0x0A && c != 0x0D) || c == 0xFFFE || c == 0xFFFF
}

/// Bytes that need a closer look: control characters other than tab, LF and CR (always forbidden), and 0xEF,
/// the lead byte of U+FFFE and U+FFFF.
static SUSPECT: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = !matches!(i, 0x09 | 0x0A | 0x0D);
        i += 1;
    }
    t[0xEF] = true;
    t
};

fn check_chars(text: &str) -> Result<(), Error> {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(off) = b[from..].iter().position(|&c| SUSPECT[usize::from(c)]) {
        let i = from + off;
        let bad = b[i] != 0xEF
            || (b.get(i + 1) == Some(&0xBF) && matches!(b.get(i + 2), Some(0xBE | 0xBF)));
        if bad {
            return Err(Error::ForbiddenCharacter {
                code: first_forbidden(&text[i..]),
                line: line_at(text, i as u64),
            });
        }
        from = i + 1;
    }
    Ok(())
}

fn first_forbidden(s: &str) -> u32 {
    s.chars().find(|&c| is_forbidden(c)).map_or(0, u32::from)
}

/// Write `root` as a complete document: XML declaration, every namespace declared once on the root with a
/// fixed prefix for the well-known ones (`dm`, `rpid`, `c`, `caps`, `lt`, …) and `ns1`, `ns2`, … for others in
/// order of first use, two-space indentation where an element holds only elements. The same tree always
/// gives the same bytes.
pub fn write_document(root: &Element) -> String {
    let mut prefixes = Prefixes::new(root.name.ns.as_deref());
    prefixes.collect(root);
    let mut out = String::with_capacity(1024);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    write_element(&mut out, root, &prefixes, 0, true);
    out.push('\n');
    out
}

struct Prefixes {
    default: Option<String>,
    /// namespace → prefix, in declaration order. The default namespace appears here only when an attribute
    /// needs it (attributes never take the default namespace).
    map: Vec<(String, String)>,
    next: usize,
}

impl Prefixes {
    fn new(default: Option<&str>) -> Self {
        Self {
            default: default.map(str::to_owned),
            map: Vec::new(),
            next: 1,
        }
    }

    fn collect(&mut self, e: &Element) {
        if let Some(ns) = &e.name.ns
            && self.default.as_deref() != Some(&**ns)
        {
            self.assign(ns);
        }
        for a in &e.attrs {
            if let Some(ns) = &a.name.ns {
                self.assign(ns);
            }
        }
        for c in e.elements() {
            self.collect(c);
        }
    }

    fn assign(&mut self, ns: &str) {
        if ns == ns::XML || self.map.iter().any(|(n, _)| n == ns) {
            return;
        }
        let known = ns::preferred_prefix(ns).filter(|p| !self.map.iter().any(|(_, q)| q == p));
        let prefix = known.map_or_else(
            || loop {
                let p = format!("ns{}", self.next);
                self.next += 1;
                if !self.map.iter().any(|(_, q)| *q == p) {
                    break p;
                }
            },
            str::to_owned,
        );
        self.map.push((ns.to_owned(), prefix));
    }

    fn prefix(&self, ns: &str) -> Option<&str> {
        if ns == ns::XML {
            return Some("xml");
        }
        self.map
            .iter()
            .find(|(n, _)| n == ns)
            .map(|(_, p)| p.as_str())
    }
}

fn write_name(out: &mut String, name: &Name, prefixes: &Prefixes, is_attr: bool) {
    if let Some(ns) = name.ns.as_deref() {
        let default = !is_attr && prefixes.default.as_deref() == Some(ns);
        if !default && let Some(p) = prefixes.prefix(ns) {
            out.push_str(p);
            out.push(':');
        }
    }
    out.push_str(&name.local);
}

fn write_element(out: &mut String, e: &Element, prefixes: &Prefixes, depth: usize, is_root: bool) {
    out.push('<');
    write_name(out, &e.name, prefixes, false);
    if is_root {
        if let Some(d) = &prefixes.default {
            out.push_str(" xmlns=\"");
            escape_attr(out, d);
            out.push('"');
        }
        for (ns, p) in &prefixes.map {
            let _ = write!(out, " xmlns:{p}=\"");
            escape_attr(out, ns);
            out.push('"');
        }
    } else if e.name.ns.is_none() && prefixes.default.is_some() {
        out.push_str(" xmlns=\"\"");
    }
    for a in &e.attrs {
        out.push(' ');
        write_name(out, &a.name, prefixes, true);
        out.push_str("=\"");
        escape_attr(out, &a.value);
        out.push('"');
    }
    if e.children.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    let element_only = e.children.iter().all(|c| matches!(c, Node::Element(_)));
    for c in &e.children {
        match c {
            Node::Element(child) => {
                if element_only {
                    out.push('\n');
                    indent(out, depth + 1);
                }
                write_element(out, child, prefixes, depth + 1, false);
            }
            Node::Text(t) => escape_text(out, t),
        }
    }
    if element_only {
        out.push('\n');
        indent(out, depth);
    }
    out.push_str("</");
    write_name(out, &e.name, prefixes, false);
    out.push('>');
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn escape_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // A raw CR would be folded into a line feed by the reader.
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

fn escape_attr(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // Attribute normalization would turn raw whitespace characters into spaces.
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Element, Error> {
        parse_tree(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn names_are_resolved_not_prefixed() {
        let a = parse(r#"<a:x xmlns:a="urn:one"><a:y a:k="v">t</a:y></a:x>"#).unwrap();
        let b = parse(r#"<x xmlns="urn:one" xmlns:q="urn:one"><y q:k="v">t</y></x>"#).unwrap();
        assert_eq!(a, b);
        assert!(a.name.is("urn:one", "x"));
    }

    #[test]
    fn entities_and_char_refs() {
        let e = parse("<x>a &amp; b &lt;&#x41;&#66;</x>").unwrap();
        assert_eq!(e.text(), "a & b <AB");
        assert!(matches!(
            parse("<x>&nbsp;</x>"),
            Err(Error::UnknownEntity { .. })
        ));
        assert!(parse("<x>&#0;</x>").is_err());
        assert!(parse("<x a='&bogus;'/>").is_err());
    }

    #[test]
    fn doctype_is_refused() {
        let err = parse("<?xml version='1.0'?>\n<!DOCTYPE x>\n<x/>").unwrap_err();
        assert_eq!(err, Error::Doctype { line: 2 });
    }

    #[test]
    fn limits_are_enforced() {
        let deep = format!("{}{}", "<a>".repeat(40), "</a>".repeat(40));
        assert!(matches!(parse(&deep), Err(Error::TooDeep { max: 32, .. })));
        let many = format!("<r>{}</r>", "<a/>".repeat(20));
        let limits = Limits::default().max_elements(10);
        assert!(matches!(
            parse_tree(many.as_bytes(), &limits),
            Err(Error::TooManyElements { max: 10, .. })
        ));
        assert!(matches!(
            parse_tree(b"<x/>", &Limits::default().max_bytes(3)),
            Err(Error::TooLarge { size: 4, max: 3 })
        ));
    }

    #[test]
    fn encodings() {
        let latin = b"<?xml version='1.0' encoding='ISO-8859-1'?><x>caf\xe9</x>";
        assert_eq!(
            parse_tree(latin, &Limits::default()).unwrap().text(),
            "café"
        );
        let bad = b"<?xml version='1.0' encoding='UTF-8'?><x>caf\xe9</x>";
        assert!(matches!(
            parse_tree(bad, &Limits::default()),
            Err(Error::InvalidUtf8 { line: 1 })
        ));
        assert!(matches!(
            parse_tree(
                b"<?xml version='1.0' encoding='EBCDIC'?><x/>",
                &Limits::default()
            ),
            Err(Error::UnsupportedEncoding(_))
        ));
        assert!(parse_tree(b"\xEF\xBB\xBF<x/>", &Limits::default()).is_ok());
        assert!(matches!(
            parse("<x>\u{1}</x>"),
            Err(Error::ForbiddenCharacter { code: 1, .. })
        ));
    }

    #[test]
    fn crlf_is_normalized() {
        assert_eq!(parse("<x>a\r\nb</x>").unwrap().text(), "a\nb");
    }

    #[test]
    fn well_formedness() {
        for bad in [
            "<x>",
            "<x></y>",
            "<x/><y/>",
            "text",
            "<x a='1' a='2'/>",
            "<p:x/>",
            "</x>",
            "<a xmlns:a='u'><a:/></a>",
            "<1x/>",
            "<x 1a='v'/>",
            "<x><xmlns:y/></x>",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse("  \n "), Err(Error::Empty));
    }

    #[test]
    fn writer_round_trips_and_escapes() {
        let src = r#"<x xmlns="urn:a" xmlns:b="urn:b" b:k="&quot;1&#10;"><b:y>a &amp; &lt;b&gt;&#13;</b:y><z/>mixed<w/></x>"#;
        let tree = parse(src).unwrap();
        let written = write_document(&tree);
        assert_eq!(parse(&written).unwrap(), tree, "{written}");
        assert_eq!(write_document(&parse(&written).unwrap()), written);
    }
}
