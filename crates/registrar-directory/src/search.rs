//! Full-text search over the searchable fields of participants, behind [`SearchIndex`].
//!
//! [`MemorySearchIndex`] is the in-process index: an inverted index from lower-cased tokens to the
//! (participant, field) pairs holding them, with typo tolerance by deletion neighbourhoods (every term is
//! also filed under each of its one-character deletions, so a query token within one insertion, deletion or
//! substitution of a term finds it), and prefixes (a query token of at least [`PREFIX_MIN_CHARS`]
//! characters finds the terms it begins: "mart" finds "martin"). Only fields the participant marked
//! searchable are indexed, so a search can never match, and so reveal, a field its owner did not open to
//! search.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use crate::model::{Field, ParticipantId};

/// What the index holds for one participant: the searchable fields' texts.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct IndexDoc {
    /// The participant.
    pub id: ParticipantId,
    /// (field, text) pairs, only for fields the participant made searchable.
    pub fields: Vec<(Field, String)>,
}

/// An index's terms and documents, borrowed, for writing a directory image: `terms` in term-number order,
/// each document with its distinct (term number, field) pairs.
#[derive(Debug, Default)]
pub struct IndexParts<'a> {
    /// Term number → text.
    pub terms: Vec<&'a str>,
    /// Documents with their (term, field) pairs.
    pub docs: Vec<(&'a ParticipantId, Vec<(u32, Field)>)>,
}

/// [`IndexParts`] read back from an image.
#[derive(Debug, Default)]
pub struct OwnedIndexParts {
    /// Term number → text.
    pub terms: Vec<String>,
    /// Documents with their (term, field) pairs.
    pub docs: Vec<(ParticipantId, Vec<(u32, Field)>)>,
}

/// One search result.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// Who matched.
    pub id: ParticipantId,
    /// Relevance, 0–1 (1: every query token matched exactly in the name).
    pub score: f64,
    /// The fields that matched, strongest first.
    pub matched: Vec<Field>,
}

/// A search index over participants.
pub trait SearchIndex: Send + Sync {
    /// Add or replace a participant's document.
    fn upsert(&mut self, doc: &IndexDoc);
    /// Remove a participant.
    fn remove(&mut self, id: &ParticipantId);
    /// The best `limit` matches for free text, best first.
    fn search(&self, query: &str, limit: usize) -> Vec<Hit>;
    /// Documents indexed.
    fn len(&self) -> usize;
    /// What this index holds, for a directory image ([`crate::Directory::write_image`]); `None` (the
    /// default): the index is rebuilt from the participants when the image is read.
    fn parts(&self) -> Option<IndexParts<'_>> {
        None
    }
    /// Take the parts of an image as this (empty) index's content; `false` (the default): not supported,
    /// the directory indexes every participant instead.
    fn load_parts(&mut self, parts: OwnedIndexParts) -> bool {
        let _ = parts;
        false
    }
    /// Whether nothing is indexed.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How much a match in each field counts.
pub const fn field_weight(f: Field) -> f64 {
    match f {
        Field::Name => 1.0,
        Field::Role | Field::Capabilities | Field::Topics => 0.8,
        Field::Organization | Field::Department => 0.6,
        Field::Languages => 0.3,
        Field::Email | Field::SipAor => 0.9,
    }
}

/// A fuzzy (one edit away) match counts this much of an exact one.
pub const FUZZY: f64 = 0.7;

/// A prefix match (the query token begins the term) counts this much of an exact one.
pub const PREFIX: f64 = 0.6;

/// The shortest query token matched as a prefix, in characters.
pub const PREFIX_MIN_CHARS: usize = 3;

/// The most terms one query token finds as a prefix (the first in sorted order).
pub const PREFIX_MAX_TERMS: usize = 64;

/// How much a query token's match with a term counts: 1 exact, [`FUZZY`] one edit away, [`PREFIX`] when the
/// token begins the term; `None` when they do not match.
pub fn term_match(term: &str, token: &str) -> Option<f64> {
    if term == token {
        Some(1.0)
    } else if token.chars().count() >= 4 && within_one(term, token) {
        Some(FUZZY)
    } else if token.chars().count() >= PREFIX_MIN_CHARS && term.starts_with(token) {
        Some(PREFIX)
    } else {
        None
    }
}

/// Lower-cased alphanumeric tokens of `text`.
pub fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

/// Terms longer than this (in characters) are matched exactly only: their one-deletion variants would cost
/// the square of their length, and nobody mistypes a 40-letter word by one letter and expects it found.
pub const FUZZY_MAX_CHARS: usize = 32;

/// Each one-character deletion of `term` as the (prefix, suffix) byte slices around the deleted character,
/// so its hash is taken without building the string. None for terms under 4 or over [`FUZZY_MAX_CHARS`]
/// characters.
fn deletions(term: &str) -> impl Iterator<Item = (&str, &str)> {
    let n = term.chars().count();
    let fuzzy = (4..=FUZZY_MAX_CHARS).contains(&n);
    term.char_indices()
        .filter(move |_| fuzzy)
        .map(move |(i, c)| (&term[..i], &term[i + c.len_utf8()..]))
}

/// Damerau–Levenshtein distance of at most one (insert, delete, substitute or swap one character).
pub fn within_one(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let p = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if a.len() == b.len() {
        if p == a.len() {
            return true;
        }
        let s = a.len() - p;
        let rest_eq = |x: &[char], y: &[char]| x == y;
        // Substitution, or a swap of two neighbours.
        rest_eq(&a[p + 1..], &b[p + 1..])
            || (s >= 2 && a[p] == b[p + 1] && a[p + 1] == b[p] && rest_eq(&a[p + 2..], &b[p + 2..]))
    } else if a.len() > b.len() {
        a[p + 1..] == b[p..]
    } else {
        b[p + 1..] == a[p..]
    }
}

/// The in-process [`SearchIndex`]. Removal is lazy: a removed document's postings stay (skipped by search)
/// until they are half of all postings, when the index is rebuilt from the live documents, so removing and
/// re-indexing a participant costs the same however common their terms are.
///
/// Terms are interned (numbered as they are first seen) and every table is keyed by those numbers; a
/// term's one-character deletions are filed by a keyed hash of their text (never built as strings), and a
/// lookup by a deletion checks each term it finds with [`within_one`], so a hash collision (forced or not)
/// only adds a candidate that is then dropped. A start-up indexes a million participants in seconds.
#[derive(Debug, Default)]
pub struct MemorySearchIndex {
    /// slot → document (`None`: removed). Slots are not reused before a rebuild.
    ids: Vec<Option<ParticipantId>>,
    /// slot → a hash of its id: the tie-break of equal scores (the same whatever the slot numbering, and
    /// cheaper than comparing ids among thousands of equal scores).
    keys: Vec<u64>,
    slots: HashMap<ParticipantId, u32>,
    /// term text → term number.
    term_ids: HashMap<Arc<str>, u32>,
    /// term number → text.
    terms: Vec<Arc<str>>,
    /// term number → (doc, field) postings.
    postings: Vec<Vec<(u32, Field)>>,
    /// term number → its postings of live documents (what idf counts).
    live_postings: Vec<u32>,
    /// Keyed hash of a one-deletion variant → the terms it comes from ([`Variants`]).
    variants: Variants,
    /// Every term, sorted, for prefix matches.
    sorted: BTreeMap<Arc<str>, u32>,
    /// slot → its distinct (term, field) pairs (empty once removed).
    terms_of: Vec<Vec<(u32, Field)>>,
    live: usize,
    /// Postings of removed documents, and of all documents.
    dead: usize,
    total: usize,
}

/// One-deletion variants: keyed hash → one term number, or (top bit set) the index of a list in `lists`
/// when several terms share the variant. Most variants belong to one term, so they cost no allocation.
#[derive(Debug, Default)]
struct Variants {
    keys: RandomState,
    map: HashMap<u64, u32, BuildPassThrough>,
    lists: Vec<Vec<u32>>,
}

const LIST: u32 = 1 << 31;

impl Variants {
    fn hash(&self, prefix: &str, suffix: &str) -> u64 {
        let mut h = self.keys.build_hasher();
        h.write(prefix.as_bytes());
        h.write(suffix.as_bytes());
        h.finish()
    }

    fn add(&mut self, key: u64, term: u32) {
        match self.map.entry(key) {
            Entry::Vacant(v) => {
                v.insert(term);
            }
            Entry::Occupied(mut o) => {
                let v = *o.get();
                if v & LIST == 0 {
                    if v != term {
                        let i = u32::try_from(self.lists.len()).unwrap_or(u32::MAX);
                        self.lists.push(vec![v, term]);
                        *o.get_mut() = i | LIST;
                    }
                } else {
                    let list = &mut self.lists[(v & !LIST) as usize];
                    if !list.contains(&term) {
                        list.push(term);
                    }
                }
            }
        }
    }

    fn get(&self, key: u64) -> &[u32] {
        match self.map.get(&key) {
            None => &[],
            Some(v) if v & LIST == 0 => std::slice::from_ref(v),
            Some(v) => &self.lists[(v & !LIST) as usize],
        }
    }

    fn clear(&mut self) {
        self.map.clear();
        self.lists.clear();
    }

    /// (variants, terms filed under them): what the index holds for fuzzy matching.
    #[cfg(test)]
    fn size(&self) -> (usize, usize) {
        let filed = self
            .map
            .values()
            .map(|&v| {
                if v & LIST == 0 {
                    1
                } else {
                    self.lists[(v & !LIST) as usize].len()
                }
            })
            .sum();
        (self.map.len(), filed)
    }
}

/// The keys of [`Variants`] are already keyed hashes: used as they are.
#[derive(Clone, Copy, Debug, Default)]
struct BuildPassThrough;

#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

impl BuildHasher for BuildPassThrough {
    type Hasher = PassThrough;
    fn build_hasher(&self) -> PassThrough {
        PassThrough::default()
    }
}

impl MemorySearchIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// The terms `token` matches, with how much each match counts ([`term_match`]).
    fn candidates(&self, token: &str) -> Vec<(u32, f64)> {
        let mut out: Vec<(u32, f64)> = Vec::new();
        if let Some(&t) = self.term_ids.get(token) {
            out.push((t, 1.0));
        }
        if token.chars().count() >= PREFIX_MIN_CHARS {
            let longer = self
                .sorted
                .range::<str, _>((std::ops::Bound::Excluded(token), std::ops::Bound::Unbounded))
                .take_while(|(t, _)| t.starts_with(token))
                .take(PREFIX_MAX_TERMS);
            for (_, &t) in longer {
                out.push((t, PREFIX));
            }
        }
        let mut fuzzy = |t: u32| {
            let text = &*self.terms[t as usize];
            if text != token && within_one(text, token) {
                match out.iter_mut().find(|(o, _)| *o == t) {
                    Some(o) => o.1 = o.1.max(FUZZY),
                    None => out.push((t, FUZZY)),
                }
            }
        };
        // The token is a deletion of a term (the query lacks a character).
        for &t in self.variants.get(self.variants.hash(token, "")) {
            fuzzy(t);
        }
        let mut d = String::with_capacity(token.len());
        for (prefix, suffix) in deletions(token) {
            d.clear();
            d.push_str(prefix);
            d.push_str(suffix);
            // A term equals a deletion of the token (the query has an extra character) …
            if let Some(&t) = self.term_ids.get(d.as_str()) {
                fuzzy(t);
            }
            // … or both lost the same character (a substitution or swap).
            for &t in self.variants.get(self.variants.hash(prefix, suffix)) {
                fuzzy(t);
            }
        }
        out
    }
}

/// FNV-1a, 64 bits.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

thread_local! {
    /// Per-thread score arrays indexed by slot, so a search adds up scores without hashing; only the
    /// entries a search touched are reset.
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

#[derive(Default)]
struct Scratch {
    acc: Vec<f32>,
    token: Vec<f32>,
    acc_touched: Vec<u32>,
    token_touched: Vec<u32>,
}

impl Scratch {
    fn fit(&mut self, slots: usize) {
        if self.acc.len() < slots {
            self.acc.resize(slots, 0.0);
            self.token.resize(slots, 0.0);
        }
    }
}

impl MemorySearchIndex {
    /// The fields through which `doc` matched the query tokens, best first (for the hits only).
    fn matched_fields(&self, doc: u32, q: &[String]) -> Vec<Field> {
        let pairs = &self.terms_of[doc as usize];
        let mut best: Vec<(Field, f64)> = Vec::new();
        for token in q {
            let mut top: Option<(Field, f64)> = None;
            for (term, field) in pairs {
                let Some(m) = term_match(&self.terms[*term as usize], token) else {
                    continue;
                };
                let s = field_weight(*field) * m;
                if top.is_none_or(|(_, t)| s > t) {
                    top = Some((*field, s));
                }
            }
            best.extend(top);
        }
        best.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut matched = Vec::new();
        for (f, _) in best {
            if !matched.contains(&f) {
                matched.push(f);
            }
        }
        matched
    }

    /// The number of `term`, filed as a new term (postings, prefix order, variants) when first seen.
    fn add_term(&mut self, term: &str) -> u32 {
        if let Some(&t) = self.term_ids.get(term) {
            return t;
        }
        let n = u32::try_from(self.terms.len()).unwrap_or(u32::MAX);
        let text: Arc<str> = term.into();
        self.term_ids.insert(Arc::clone(&text), n);
        self.sorted.insert(Arc::clone(&text), n);
        self.terms.push(Arc::clone(&text));
        self.postings.push(Vec::new());
        self.live_postings.push(0);
        for (prefix, suffix) in deletions(&text) {
            let key = self.variants.hash(prefix, suffix);
            self.variants.add(key, n);
        }
        n
    }

    fn insert(&mut self, id: ParticipantId, pairs: Vec<(u32, Field)>) {
        let slot = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        for &(t, f) in &pairs {
            self.postings[t as usize].push((slot, f));
            self.live_postings[t as usize] += 1;
        }
        self.total += pairs.len();
        self.keys.push(fnv1a(id.as_str()));
        self.ids.push(Some(id.clone()));
        self.terms_of.push(pairs);
        self.slots.insert(id, slot);
        self.live += 1;
    }

    /// Rebuild from the live documents once removed ones hold half the postings.
    fn maybe_compact(&mut self) {
        if self.dead < 4096 || self.dead * 2 < self.total {
            return;
        }
        let ids = std::mem::take(&mut self.ids);
        let terms_of = std::mem::take(&mut self.terms_of);
        let old_terms = std::mem::take(&mut self.terms);
        self.keys.clear();
        self.slots.clear();
        self.term_ids.clear();
        self.postings.clear();
        self.live_postings.clear();
        self.variants.clear();
        self.sorted.clear();
        self.live = 0;
        self.dead = 0;
        self.total = 0;
        for (id, pairs) in ids.into_iter().zip(terms_of) {
            if let Some(id) = id {
                let pairs = pairs
                    .into_iter()
                    .map(|(t, f)| (self.add_term(&old_terms[t as usize]), f))
                    .collect();
                self.insert(id, pairs);
            }
        }
    }
}

impl SearchIndex for MemorySearchIndex {
    fn upsert(&mut self, doc: &IndexDoc) {
        self.remove(&doc.id);
        // Linear in the text: each distinct (term, field) once, found by hashing.
        let mut seen: HashSet<(u32, Field)> = HashSet::new();
        let mut pairs: Vec<(u32, Field)> = Vec::new();
        for (field, text) in &doc.fields {
            for t in tokens(text) {
                let t = self.add_term(&t);
                if seen.insert((t, *field)) {
                    pairs.push((t, *field));
                }
            }
        }
        self.insert(doc.id.clone(), pairs);
    }

    fn parts(&self) -> Option<IndexParts<'_>> {
        // Only terms that live documents use, renumbered densely.
        let mut renumber = vec![u32::MAX; self.terms.len()];
        let mut terms = Vec::new();
        let mut docs = Vec::with_capacity(self.live);
        for (id, pairs) in self.ids.iter().zip(&self.terms_of) {
            let Some(id) = id else { continue };
            let pairs = pairs
                .iter()
                .map(|&(t, f)| {
                    let n = &mut renumber[t as usize];
                    if *n == u32::MAX {
                        *n = u32::try_from(terms.len()).unwrap_or(u32::MAX);
                        terms.push(&*self.terms[t as usize]);
                    }
                    (*n, f)
                })
                .collect();
            docs.push((id, pairs));
        }
        Some(IndexParts { terms, docs })
    }

    fn load_parts(&mut self, parts: OwnedIndexParts) -> bool {
        *self = Self::default();
        let n = parts.terms.len();
        self.terms.reserve(n);
        self.term_ids.reserve(n);
        self.postings.reserve(n);
        self.live_postings.reserve(n);
        for t in &parts.terms {
            let text: Arc<str> = t.as_str().into();
            let num = u32::try_from(self.terms.len()).unwrap_or(u32::MAX);
            self.term_ids.insert(Arc::clone(&text), num);
            for (prefix, suffix) in deletions(&text) {
                let key = self.variants.hash(prefix, suffix);
                self.variants.add(key, num);
            }
            self.terms.push(text);
            self.postings.push(Vec::new());
            self.live_postings.push(0);
        }
        let mut sorted: Vec<(Arc<str>, u32)> = self
            .terms
            .iter()
            .enumerate()
            .map(|(i, t)| (Arc::clone(t), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        sorted.dedup_by(|a, b| a.0 == b.0);
        self.sorted = sorted.into_iter().collect();
        let docs = parts.docs.len();
        self.ids.reserve(docs);
        self.keys.reserve(docs);
        self.terms_of.reserve(docs);
        self.slots.reserve(docs);
        for (id, mut pairs) in parts.docs {
            // A corrupt image must not index out of bounds: pairs naming no term are dropped.
            pairs.retain(|&(t, _)| (t as usize) < n);
            self.insert(id, pairs);
        }
        true
    }

    fn remove(&mut self, id: &ParticipantId) {
        let Some(slot) = self.slots.remove(id) else {
            return;
        };
        let i = slot as usize;
        let pairs = std::mem::take(&mut self.terms_of[i]);
        self.dead += pairs.len();
        for (t, _) in &pairs {
            let n = &mut self.live_postings[*t as usize];
            *n = n.saturating_sub(1);
        }
        self.ids[i] = None;
        self.live -= 1;
        self.maybe_compact();
    }

    fn search(&self, query: &str, limit: usize) -> Vec<Hit> {
        let q: Vec<String> = tokens(query).collect();
        if q.is_empty() || limit == 0 {
            return Vec::new();
        }
        let n = self.live.max(1) as f64;
        let idf = |term: u32| {
            let live = self.live_postings[term as usize];
            // Rare terms say more: idf scaled to 0.5–1.
            (live > 0).then(|| 0.5 + 0.5 * ((n / f64::from(live)).ln() / n.ln().max(1.0)).min(1.0))
        };
        SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let sc = &mut *guard;
            sc.fit(self.ids.len());
            for token in &q {
                // The token's best contribution to each document (over candidate terms and fields) …
                for (term, weight) in self.candidates(token) {
                    let Some(idf) = idf(term) else {
                        continue;
                    };
                    let m = weight * idf;
                    for &(doc, field) in &self.postings[term as usize] {
                        let d = doc as usize;
                        if self.ids[d].is_none() {
                            continue;
                        }
                        let s = (field_weight(field) * m) as f32;
                        if sc.token[d] == 0.0 {
                            sc.token_touched.push(doc);
                        }
                        if s > sc.token[d] {
                            sc.token[d] = s;
                        }
                    }
                }
                // … added to its score.
                for &doc in &sc.token_touched {
                    let d = doc as usize;
                    if sc.acc[d] == 0.0 {
                        sc.acc_touched.push(doc);
                    }
                    sc.acc[d] += sc.token[d];
                    sc.token[d] = 0.0;
                }
                sc.token_touched.clear();
            }
            // The best `limit` by score, ties by id hash: a selection, then a sort of only those.
            let mut ranked: Vec<(f32, u64, u32)> = sc
                .acc_touched
                .iter()
                .map(|&doc| (sc.acc[doc as usize], self.keys[doc as usize], doc))
                .collect();
            for &doc in &sc.acc_touched {
                sc.acc[doc as usize] = 0.0;
            }
            sc.acc_touched.clear();
            let order = |a: &(f32, u64, u32), b: &(f32, u64, u32)| {
                b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1))
            };
            if ranked.len() > limit {
                ranked.select_nth_unstable_by(limit - 1, order);
                ranked.truncate(limit);
            }
            ranked.sort_unstable_by(order);
            ranked
                .into_iter()
                .filter_map(|(score, _, doc)| Some((score, doc, self.ids[doc as usize].as_ref()?)))
                .map(|(score, doc, id)| Hit {
                    id: id.clone(),
                    score: f64::from(score) / q.len() as f64,
                    matched: self.matched_fields(doc, &q),
                })
                .collect()
        })
    }

    fn len(&self) -> usize {
        self.live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, name: &str, role: &str) -> IndexDoc {
        IndexDoc {
            id: ParticipantId::parse(id).unwrap(),
            fields: vec![(Field::Name, name.into()), (Field::Role, role.into())],
        }
    }

    #[test]
    fn removed_documents_vanish_and_a_rebuild_keeps_the_live_ones() {
        let mut ix = MemorySearchIndex::new();
        for round in 0..3 {
            for i in 0..3000 {
                ix.upsert(&doc(
                    &format!("p{i}@x.example"),
                    &format!("name{i} {}", ["alpha", "bravo", "charlie"][round]),
                    "engineer",
                ));
            }
        }
        // Two rounds of every document were replaced: a rebuild ran.
        assert!(ix.dead * 2 < ix.total, "{} dead of {}", ix.dead, ix.total);
        assert_eq!(ix.len(), 3000);
        let hits = ix.search("name17 charlie", 3);
        assert_eq!(hits[0].id.as_str(), "p17@x.example");
        assert!(ix.search("alpha", 5).is_empty());
        assert_eq!(ix.search("charlie", 5).len(), 5);
        for i in 0..3000 {
            ix.remove(&ParticipantId::parse(&format!("p{i}@x.example")).unwrap());
        }
        assert!(ix.search("engineer", 5).is_empty());
        assert_eq!(ix.len(), 0);
    }

    #[test]
    fn indexing_costs_are_linear_in_the_text() {
        // One 100 kB word and 20 000 distinct short words: the index grows with the text, not its square.
        let mut ix = MemorySearchIndex::new();
        let long = "x".repeat(100_000);
        let many: String = (0..20_000).map(|i| format!("w{i} ")).collect();
        for (i, text) in [long, many].iter().enumerate() {
            ix.upsert(&IndexDoc {
                id: ParticipantId::parse(&format!("p{i}@x.example")).unwrap(),
                fields: vec![(Field::Name, text.clone())],
            });
        }
        let (variants, filed) = ix.variants.size();
        // Each short word has one variant per character; the long one has none.
        assert!(variants <= 20_000 * 6, "{variants} variants");
        assert!(filed <= 20_000 * 6, "{filed} terms filed under variants");
        assert!(ix.terms.iter().map(|t| t.len()).sum::<usize>() <= 100_000 + 20_000 * 6);
        assert_eq!(ix.search(&"x".repeat(100_000), 1).len(), 1);
        assert_eq!(ix.search("w19999", 1).len(), 1);
    }

    #[test]
    fn a_variant_hashes_the_same_however_its_text_is_split() {
        let v = Variants::default();
        assert_eq!(v.hash("mar", "tin"), v.hash("martin", ""));
        assert_eq!(v.hash("", "martin"), v.hash("martin", ""));
        assert_ne!(v.hash("martin", ""), v.hash("martn", ""));
        let d: Vec<String> = deletions("anna").map(|(p, s)| format!("{p}{s}")).collect();
        assert_eq!(d, ["nna", "ana", "ana", "ann"]);
        assert_eq!(deletions("ann").count(), 0);
        assert_eq!(deletions(&"x".repeat(FUZZY_MAX_CHARS + 1)).count(), 0);
        assert_eq!(deletions("čaša").count(), 4);
    }

    #[test]
    fn one_edit_is_tolerated() {
        assert!(within_one("alice", "alise"));
        assert!(within_one("alice", "alcie"));
        assert!(within_one("alice", "alic"));
        assert!(within_one("alice", "alices"));
        assert!(!within_one("alice", "bob"));
        assert!(!within_one("alice", "ailce2"));
    }

    #[test]
    fn typos_find_the_name_and_removal_forgets_it() {
        let mut ix = MemorySearchIndex::new();
        ix.upsert(&doc(
            "alice@lab.example",
            "Alice Martin",
            "research scientist",
        ));
        ix.upsert(&doc("bob@lab.example", "Bob Stone", "deployment bot"));
        let hits = ix.search("Ali Mart", 5);
        assert_eq!(hits[0].id.as_str(), "alice@lab.example");
        assert!(ix.search("Al", 5).is_empty(), "two letters are no prefix");
        let hits = ix.search("Alise Martn", 5);
        assert_eq!(hits[0].id.as_str(), "alice@lab.example");
        assert_eq!(hits[0].matched, vec![Field::Name]);
        let hits = ix.search("deployment", 5);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].matched, vec![Field::Role]);
        ix.remove(&ParticipantId::parse("alice@lab.example").unwrap());
        assert!(ix.search("alice", 5).is_empty());
        assert_eq!(ix.len(), 1);
        // A re-upsert replaces the old text.
        ix.upsert(&doc("bob@lab.example", "Robert Stone", "release bot"));
        assert!(ix.search("deployment", 5).is_empty());
        assert_eq!(ix.search("robert", 5).len(), 1);
    }
}
