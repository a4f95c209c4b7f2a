//! Full-text search over the searchable fields of participants, behind [`SearchIndex`].
//!
//! [`MemorySearchIndex`] is the in-process index: an inverted index from lower-cased tokens to the
//! (participant, field) pairs holding them, with typo tolerance by deletion neighbourhoods (every term is
//! also filed under each of its one-character deletions, so a query token within one insertion, deletion or
//! substitution of a term finds it). Only fields the participant marked searchable are indexed, so a search
//! can never match, and so reveal, a field its owner did not open to search.

use std::collections::HashMap;

use crate::model::{Field, ParticipantId};

/// What the index holds for one participant: the searchable fields' texts.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct IndexDoc {
    /// The participant.
    pub id: ParticipantId,
    /// (field, text) pairs, only for fields the participant made searchable.
    pub fields: Vec<(Field, String)>,
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
const FUZZY: f64 = 0.7;

/// Lower-cased alphanumeric tokens of `text`.
pub fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

fn deletions(term: &str) -> Vec<String> {
    let chars: Vec<char> = term.chars().collect();
    if chars.len() < 4 {
        return Vec::new();
    }
    (0..chars.len())
        .map(|i| {
            chars
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, c)| *c)
                .collect()
        })
        .collect()
}

/// Damerau–Levenshtein distance of at most one (insert, delete, substitute or swap one character).
fn within_one(a: &str, b: &str) -> bool {
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
#[derive(Debug, Default)]
pub struct MemorySearchIndex {
    /// slot → document (`None`: removed). Slots are not reused before a rebuild.
    ids: Vec<Option<ParticipantId>>,
    slots: HashMap<ParticipantId, u32>,
    /// term → (doc, field) postings.
    postings: HashMap<Box<str>, Vec<(u32, Field)>>,
    /// term → its postings of live documents (what idf counts).
    live_postings: HashMap<Box<str>, u32>,
    /// one-deletion variant → terms.
    variants: HashMap<Box<str>, Vec<Box<str>>>,
    /// slot → its distinct (term, field) pairs (empty once removed).
    terms_of: Vec<Vec<(Box<str>, Field)>>,
    live: usize,
    /// Postings of removed documents, and of all documents.
    dead: usize,
    total: usize,
}

impl MemorySearchIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    fn candidates<'a>(&'a self, token: &str) -> Vec<(&'a str, bool)> {
        let mut out: Vec<(&'a str, bool)> = Vec::new();
        if let Some((t, _)) = self.postings.get_key_value(token) {
            out.push((t, true));
        }
        let mut fuzzy = |t: &'a str| {
            if t != token && !out.iter().any(|(o, _)| *o == t) && within_one(t, token) {
                out.push((t, false));
            }
        };
        // The token is a deletion of a term (the query lacks a character).
        if let Some(ts) = self.variants.get(token) {
            for t in ts {
                fuzzy(t);
            }
        }
        for d in deletions(token) {
            // A term equals a deletion of the token (the query has an extra character) …
            if let Some((t, _)) = self.postings.get_key_value(d.as_str()) {
                fuzzy(t);
            }
            // … or both lost the same character (a substitution or swap).
            if let Some(ts) = self.variants.get(d.as_str()) {
                for t in ts {
                    fuzzy(t);
                }
            }
        }
        out
    }
}

impl MemorySearchIndex {
    fn add_term(&mut self, term: &str) -> Box<str> {
        if let Some((t, _)) = self.postings.get_key_value(term) {
            return t.clone();
        }
        let t: Box<str> = term.into();
        self.postings.insert(t.clone(), Vec::new());
        for d in deletions(&t) {
            let v = self.variants.entry(d.into()).or_default();
            if !v.contains(&t) {
                v.push(t.clone());
            }
        }
        t
    }

    fn insert(&mut self, id: ParticipantId, pairs: Vec<(Box<str>, Field)>) {
        let slot = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        for (t, f) in &pairs {
            if let Some(list) = self.postings.get_mut(t) {
                list.push((slot, *f));
            }
            *self.live_postings.entry(t.clone()).or_default() += 1;
        }
        self.total += pairs.len();
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
        let terms = std::mem::take(&mut self.terms_of);
        self.slots.clear();
        self.postings.clear();
        self.live_postings.clear();
        self.variants.clear();
        self.live = 0;
        self.dead = 0;
        self.total = 0;
        for (id, pairs) in ids.into_iter().zip(terms) {
            if let Some(id) = id {
                let pairs = pairs
                    .into_iter()
                    .map(|(t, f)| (self.add_term(&t), f))
                    .collect();
                self.insert(id, pairs);
            }
        }
    }
}

impl SearchIndex for MemorySearchIndex {
    fn upsert(&mut self, doc: &IndexDoc) {
        self.remove(&doc.id);
        let mut pairs: Vec<(Box<str>, Field)> = Vec::new();
        for (field, text) in &doc.fields {
            for t in tokens(text) {
                if !pairs.iter().any(|(x, f)| **x == *t && f == field) {
                    let t = self.add_term(&t);
                    pairs.push((t, *field));
                }
            }
        }
        self.insert(doc.id.clone(), pairs);
    }

    fn remove(&mut self, id: &ParticipantId) {
        let Some(slot) = self.slots.remove(id) else {
            return;
        };
        let i = slot as usize;
        let pairs = std::mem::take(&mut self.terms_of[i]);
        self.dead += pairs.len();
        for (t, _) in &pairs {
            if let Some(n) = self.live_postings.get_mut(t) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.live_postings.remove(t);
                }
            }
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
        // doc → (score, best field per token)
        let mut acc: HashMap<u32, (f64, Vec<(Field, f64)>)> = HashMap::new();
        for token in &q {
            let mut best: HashMap<u32, (f64, Field)> = HashMap::new();
            for (term, exact) in self.candidates(token) {
                let Some(list) = self.postings.get(term) else {
                    continue;
                };
                let Some(&live) = self.live_postings.get(term) else {
                    continue;
                };
                // Rare terms say more: idf scaled to 0.5–1.
                let idf = 0.5 + 0.5 * ((n / f64::from(live)).ln() / n.ln().max(1.0)).min(1.0);
                for &(doc, field) in list {
                    if self.ids.get(doc as usize).is_none_or(Option::is_none) {
                        continue;
                    }
                    let s = field_weight(field) * if exact { 1.0 } else { FUZZY } * idf;
                    let e = best.entry(doc).or_insert((0.0, field));
                    if s > e.0 {
                        *e = (s, field);
                    }
                }
            }
            for (doc, (s, f)) in best {
                let e = acc.entry(doc).or_insert((0.0, Vec::new()));
                e.0 += s;
                e.1.push((f, s));
            }
        }
        // The best `limit` by score, ties by id: a selection, then a sort of only those.
        let mut ranked: Vec<(f64, u32, &ParticipantId)> = acc
            .iter()
            .filter_map(|(doc, (s, _))| Some((*s, *doc, self.ids.get(*doc as usize)?.as_ref()?)))
            .collect();
        let order = |a: &(f64, u32, &ParticipantId), b: &(f64, u32, &ParticipantId)| {
            b.0.total_cmp(&a.0).then_with(|| a.2.cmp(b.2))
        };
        if ranked.len() > limit {
            ranked.select_nth_unstable_by(limit - 1, order);
            ranked.truncate(limit);
        }
        ranked.sort_unstable_by(order);
        ranked
            .into_iter()
            .map(|(s, doc, id)| {
                let mut fields = acc.get(&doc).map(|e| e.1.clone()).unwrap_or_default();
                fields.sort_by(|a, b| b.1.total_cmp(&a.1));
                let mut matched: Vec<Field> = Vec::new();
                for (f, _) in fields {
                    if !matched.contains(&f) {
                        matched.push(f);
                    }
                }
                Hit {
                    id: id.clone(),
                    score: s / q.len() as f64,
                    matched,
                }
            })
            .collect()
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
