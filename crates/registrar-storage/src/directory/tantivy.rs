//! The directory's search index on tantivy ([`TantivySearchIndex`]).
//!
//! Tantivy finds the candidates (per query token, an exact term query, for tokens of four characters or
//! more a fuzzy one of one edit, transpositions included, and for tokens of [`PREFIX_MIN_CHARS`] or more a
//! prefix one, over a catch-all field holding every searchable field's text); the directory's own scoring
//! then ranks them from the stored fields ([`field_weight`], [`term_match`]: one edit at [`FUZZY`], a prefix
//! at [`PREFIX`], idf from tantivy's document frequencies), so relevance means the same with either index
//! and the ranking formula of docs/directory.md holds unchanged.
//!
//! The index lives in memory and is rebuilt from the directory's store at start, like
//! [`registrar_directory::MemorySearchIndex`]; changes are committed before the next search.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use registrar_directory::ParticipantId;
use registrar_directory::model::Field;
use registrar_directory::search::{
    FUZZY, Hit, IndexDoc, PREFIX, PREFIX_MIN_CHARS, SearchIndex, field_weight, term_match, tokens,
};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field as TField, IndexRecordOption, STORED, STRING, Schema, TEXT, TantivyDocument, Value,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Term};

/// Heap of the single indexing thread (tantivy's minimum is 15 MB).
const WRITER_HEAP: usize = 64 << 20;

/// A [`SearchIndex`] on tantivy.
pub struct TantivySearchIndex {
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    id: TField,
    /// Every field's text, for finding candidates.
    all: TField,
    fields: Vec<(Field, TField)>,
    live: HashSet<ParticipantId>,
    dirty: AtomicBool,
}

impl std::fmt::Debug for TantivySearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TantivySearchIndex")
            .field("documents", &self.live.len())
            .finish_non_exhaustive()
    }
}

fn field_name(f: Field) -> &'static str {
    match f {
        Field::Name => "name",
        Field::Organization => "organization",
        Field::Role => "role",
        Field::Department => "department",
        Field::Capabilities => "capabilities",
        Field::Languages => "languages",
        Field::Topics => "topics",
        Field::Email => "email",
        Field::SipAor => "sip_aor",
        _ => "other",
    }
}

impl TantivySearchIndex {
    /// An empty index in memory.
    ///
    /// # Errors
    /// [`crate::Error::Db`]: tantivy could not set up its writer or reader.
    pub fn new() -> Result<Self, crate::Error> {
        let err = |e: tantivy::TantivyError| crate::Error::Db(format!("search index: {e}"));
        let mut b = Schema::builder();
        let id = b.add_text_field("id", STRING | STORED);
        let all = b.add_text_field("all", TEXT);
        let fields: Vec<(Field, TField)> = Field::ALL
            .iter()
            .map(|&f| (f, b.add_text_field(field_name(f), TEXT | STORED)))
            .collect();
        let index = Index::create_in_ram(b.build());
        let writer = index.writer_with_num_threads(1, WRITER_HEAP).map_err(err)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(err)?;
        Ok(Self {
            writer: Mutex::new(writer),
            reader,
            id,
            all,
            fields,
            live: HashSet::new(),
            dirty: AtomicBool::new(false),
        })
    }

    fn tfield(&self, f: Field) -> Option<TField> {
        self.fields.iter().find(|(g, _)| *g == f).map(|(_, t)| *t)
    }

    /// Commit what changed since the last search (a search sees every change made before it).
    fn refresh(&self) -> tantivy::Result<()> {
        if self.dirty.swap(false, Ordering::AcqRel) {
            let mut w = self
                .writer
                .lock()
                .map_err(|_| tantivy::TantivyError::InternalError("writer lock poisoned".into()))?;
            w.commit()?;
            self.reader.reload()?;
        }
        Ok(())
    }

    fn try_search(&self, query: &str, limit: usize) -> tantivy::Result<Vec<Hit>> {
        let q: Vec<String> = tokens(query).collect();
        if q.is_empty() || limit == 0 || self.live.is_empty() {
            return Ok(Vec::new());
        }
        self.refresh()?;
        let searcher = self.reader.searcher();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for token in &q {
            let term = Term::from_field_text(self.all, token);
            clauses.push((
                Occur::Should,
                Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs)),
            ));
            if token.chars().count() >= 4 {
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(FuzzyTermQuery::new(term.clone(), 1, true)),
                        FUZZY as f32,
                    )),
                ));
            }
            if token.chars().count() >= PREFIX_MIN_CHARS {
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(FuzzyTermQuery::new_prefix(term, 0, true)),
                        PREFIX as f32,
                    )),
                ));
            }
        }
        let found = searcher.search(
            &BooleanQuery::new(clauses),
            &TopDocs::with_limit(limit.max(20)),
        )?;
        // idf as the memory index has it (documents holding the term, scaled to 0.5–1).
        let n = (searcher.num_docs() as f64).max(1.0);
        let mut idf_cache: Vec<(String, f64)> = Vec::new();
        let mut idf = |term: &str| -> tantivy::Result<f64> {
            if let Some((_, v)) = idf_cache.iter().find(|(t, _)| t == term) {
                return Ok(*v);
            }
            let df = searcher.doc_freq(&Term::from_field_text(self.all, term))?;
            let v = 0.5 + 0.5 * ((n / (df.max(1) as f64)).ln() / n.ln().max(1.0)).min(1.0);
            idf_cache.push((term.to_owned(), v));
            Ok(v)
        };
        let mut hits = Vec::with_capacity(found.len());
        for (_, addr) in found {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let Some(id) = doc
                .get_first(self.id)
                .and_then(|v| v.as_str())
                .and_then(|s| ParticipantId::parse(s).ok())
            else {
                continue;
            };
            let mut total = 0.0;
            let mut best_fields: Vec<(Field, f64)> = Vec::new();
            for token in &q {
                let mut top: Option<(Field, f64)> = None;
                for &(f, tf) in &self.fields {
                    for text in doc.get_all(tf).filter_map(|v| v.as_str()) {
                        for term in tokens(text) {
                            let Some(m) = term_match(&term, token) else {
                                continue;
                            };
                            let s = field_weight(f) * m * idf(&term)?;
                            if top.is_none_or(|(_, t)| s > t) {
                                top = Some((f, s));
                            }
                        }
                    }
                }
                if let Some(t) = top {
                    total += t.1;
                    best_fields.push(t);
                }
            }
            best_fields.sort_by(|a, b| b.1.total_cmp(&a.1));
            let mut matched = Vec::new();
            for (f, _) in best_fields {
                if !matched.contains(&f) {
                    matched.push(f);
                }
            }
            hits.push(Hit {
                id,
                score: total / q.len() as f64,
                matched,
            });
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
        hits.truncate(limit);
        Ok(hits)
    }
}

impl SearchIndex for TantivySearchIndex {
    fn upsert(&mut self, doc: &IndexDoc) {
        let mut d = TantivyDocument::default();
        d.add_text(self.id, doc.id.as_str());
        for (f, text) in &doc.fields {
            if let Some(tf) = self.tfield(*f) {
                d.add_text(tf, text);
                d.add_text(self.all, text);
            }
        }
        let Ok(w) = self.writer.get_mut() else {
            return;
        };
        w.delete_term(Term::from_field_text(self.id, doc.id.as_str()));
        if w.add_document(d).is_ok() {
            self.live.insert(doc.id.clone());
        }
        self.dirty.store(true, Ordering::Release);
    }

    fn remove(&mut self, id: &ParticipantId) {
        if !self.live.remove(id) {
            return;
        }
        if let Ok(w) = self.writer.get_mut() {
            w.delete_term(Term::from_field_text(self.id, id.as_str()));
        }
        self.dirty.store(true, Ordering::Release);
    }

    fn search(&self, query: &str, limit: usize) -> Vec<Hit> {
        // The trait has no error: a failing index answers nothing (and says so in the log of the caller's
        // choice); it cannot fail on a RAM directory short of memory exhaustion.
        self.try_search(query, limit).unwrap_or_default()
    }

    fn len(&self) -> usize {
        self.live.len()
    }
}
