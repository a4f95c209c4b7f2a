//! The relationship graph: network proximity (degrees of separation) by bidirectional breadth-first search
//! with a hop limit, and trust propagated along paths with decay.

use std::collections::{HashMap, HashSet};

use crate::model::{
    ParticipantId, Relationship, RelationshipKind, TrustCategory, TrustRating, VerificationLevel,
};

/// Relationships as an undirected adjacency (proximity ignores direction: knowing someone either way is a
/// link), plus the declared ones for the privacy rules.
///
/// A relationship is mutual exactly when both sides declared one: the `mutual` flag of a [`Relationship`]
/// given to [`Graph::put`] is ignored (one side cannot confirm for the other), and the flag read back is
/// worked out from the two declarations.
///
/// Participants are numbered as they enter the graph (a slot freed by [`Graph::remove_all`] is reused), so
/// adjacency and declarations are plain numbers: searches touch no strings, and a graph of millions of
/// links is built in a fraction of the time string keys take.
#[derive(Debug, Default)]
pub struct Graph {
    /// Slot → participant (`None`: free).
    ids: Vec<Option<ParticipantId>>,
    slots: HashMap<ParticipantId, u32>,
    free: Vec<u32>,
    /// Slot → linked slots, either direction.
    adj: Vec<Vec<u32>>,
    /// (from, to) slots → what `to` is to `from`.
    declared: HashMap<u64, RelationshipKind, BuildPair>,
}

/// A hasher for pairs of slot numbers: the numbers are ours (dense, assigned in order), not chosen by a
/// peer, so a multiply-and-fold is enough and far cheaper than SipHash.
#[derive(Clone, Copy, Debug, Default)]
struct BuildPair;

#[derive(Default)]
struct PairHasher(u64);

impl std::hash::Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        let x = v.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = x ^ (x >> 29);
    }
}

impl std::hash::BuildHasher for BuildPair {
    type Hasher = PairHasher;
    fn build_hasher(&self) -> PairHasher {
        PairHasher::default()
    }
}

const fn pair(from: u32, to: u32) -> u64 {
    ((from as u64) << 32) | to as u64
}

impl Graph {
    /// Room for `participants` and `relationships` without growing (a restore knows both).
    pub fn reserve(&mut self, participants: usize, relationships: usize) {
        self.ids.reserve(participants);
        self.slots.reserve(participants);
        self.adj.reserve(participants);
        self.declared.reserve(relationships);
    }

    fn slot(&self, id: &ParticipantId) -> Option<u32> {
        self.slots.get(id).copied()
    }

    fn slot_or_new(&mut self, id: &ParticipantId) -> u32 {
        if let Some(s) = self.slots.get(id) {
            return *s;
        }
        let s = match self.free.pop() {
            Some(s) => {
                self.ids[s as usize] = Some(id.clone());
                s
            }
            None => {
                let s = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
                self.ids.push(Some(id.clone()));
                self.adj.push(Vec::new());
                s
            }
        };
        self.slots.insert(id.clone(), s);
        s
    }

    fn id(&self, slot: u32) -> Option<&ParticipantId> {
        self.ids.get(slot as usize).and_then(Option::as_ref)
    }

    /// Add or replace the relationship `r.from → r.to` (its `mutual` flag is not taken: see [`Graph`]).
    pub fn put(&mut self, r: &Relationship) {
        let (a, b) = (self.slot_or_new(&r.from), self.slot_or_new(&r.to));
        self.link(a, b, r.kind);
    }

    /// The graph of a start-up: `people` numbered first, so each relationship then costs two lookups
    /// (a relationship naming someone not among them is skipped), and the slots of those left without a
    /// link freed again.
    pub fn load<'a>(
        &mut self,
        people: impl ExactSizeIterator<Item = &'a ParticipantId>,
        relationships: Vec<Relationship>,
    ) {
        self.reserve(people.len(), relationships.len());
        for id in people {
            self.slot_or_new(id);
        }
        for r in relationships {
            if let (Some(a), Some(b)) = (self.slot(&r.from), self.slot(&r.to)) {
                self.link(a, b, r.kind);
            }
        }
        for s in 0..self.ids.len() {
            self.release_if_alone(u32::try_from(s).unwrap_or(u32::MAX));
        }
    }

    /// The graph of an image: `people` numbered in order (slot = position), then `links` between those
    /// positions (a position out of range is skipped), and the slots of those left without a link freed.
    pub fn load_indexed(
        &mut self,
        people: &[ParticipantId],
        links: impl ExactSizeIterator<Item = (u32, u32, RelationshipKind)>,
    ) {
        *self = Self::default();
        self.reserve(people.len(), links.len());
        for id in people {
            self.slot_or_new(id);
        }
        let n = self.ids.len();
        for (a, b, kind) in links {
            if (a as usize) < n && (b as usize) < n && a != b {
                self.link(a, b, kind);
            }
        }
        for s in 0..self.ids.len() {
            self.release_if_alone(u32::try_from(s).unwrap_or(u32::MAX));
        }
    }

    /// Every declared relationship by slot numbers: (from, to, what `to` is to `from`), in no order; with
    /// [`Graph::slot_ids`], what a directory image needs without a lookup per relationship.
    pub fn declared_slots(&self) -> impl Iterator<Item = (u32, u32, RelationshipKind)> + '_ {
        self.declared.iter().filter_map(|(&p, &kind)| {
            Some((
                u32::try_from(p >> 32).ok()?,
                u32::try_from(p & 0xffff_ffff).ok()?,
                kind,
            ))
        })
    }

    /// Slot → participant (`None`: a free slot), for [`Graph::declared_slots`].
    pub fn slot_ids(&self) -> &[Option<ParticipantId>] {
        &self.ids
    }

    fn link(&mut self, a: u32, b: u32, kind: RelationshipKind) {
        self.declared.insert(pair(a, b), kind);
        for (x, y) in [(a, b), (b, a)] {
            let n = &mut self.adj[x as usize];
            if !n.contains(&y) {
                n.push(y);
            }
        }
    }

    /// Remove the relationship `from → to` (the link stays while `to → from` exists).
    pub fn remove(&mut self, from: &ParticipantId, to: &ParticipantId) {
        let (Some(a), Some(b)) = (self.slot(from), self.slot(to)) else {
            return;
        };
        self.declared.remove(&pair(a, b));
        if self.declared.contains_key(&pair(b, a)) {
            return;
        }
        for (x, y) in [(a, b), (b, a)] {
            self.adj[x as usize].retain(|z| *z != y);
        }
        self.release_if_alone(a);
        self.release_if_alone(b);
    }

    /// Free the slot of a participant without links.
    fn release_if_alone(&mut self, s: u32) {
        if self.adj[s as usize].is_empty()
            && let Some(id) = self.ids[s as usize].take()
        {
            self.slots.remove(&id);
            self.free.push(s);
        }
    }

    /// Remove every relationship of `id`.
    pub fn remove_all(&mut self, id: &ParticipantId) {
        let Some(a) = self.slot(id) else {
            return;
        };
        for b in std::mem::take(&mut self.adj[a as usize]) {
            self.declared.remove(&pair(a, b));
            self.declared.remove(&pair(b, a));
            self.adj[b as usize].retain(|z| *z != a);
            self.release_if_alone(b);
        }
        self.release_if_alone(a);
    }

    /// The relationship `from` declared to `to`, if any, and whether it is mutual (`to` declared one to
    /// `from` too).
    pub fn declared(
        &self,
        from: &ParticipantId,
        to: &ParticipantId,
    ) -> Option<(RelationshipKind, bool)> {
        let (a, b) = (self.slot(from)?, self.slot(to)?);
        let kind = self.declared.get(&pair(a, b)).copied()?;
        Some((kind, self.declared.contains_key(&pair(b, a))))
    }

    /// How many relationships `from` declared.
    pub fn declared_by(&self, from: &ParticipantId) -> usize {
        self.slot(from).map_or(0, |a| {
            self.adj[a as usize]
                .iter()
                .filter(|b| self.declared.contains_key(&pair(a, **b)))
                .count()
        })
    }

    /// Every relationship touching `id`, as declared.
    pub fn relationships_of(&self, id: &ParticipantId) -> Vec<Relationship> {
        let Some(a) = self.slot(id) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for &b in &self.adj[a as usize] {
            for (x, y) in [(a, b), (b, a)] {
                let (Some(kind), Some(from), Some(to)) =
                    (self.declared.get(&pair(x, y)), self.id(x), self.id(y))
                else {
                    continue;
                };
                out.push(Relationship {
                    from: from.clone(),
                    to: to.clone(),
                    kind: *kind,
                    mutual: self.declared.contains_key(&pair(y, x)),
                });
            }
        }
        out
    }

    /// The privacy rules' "related": `target` declared a relationship to `requester` (which a mutual one
    /// includes). What `requester` declared alone grants nothing.
    pub fn related(&self, target: &ParticipantId, requester: &ParticipantId) -> bool {
        match (self.slot(target), self.slot(requester)) {
            (Some(a), Some(b)) => self.declared.contains_key(&pair(a, b)),
            _ => false,
        }
    }

    /// Direct links of `id`.
    pub fn neighbours(&self, id: &ParticipantId) -> Vec<&ParticipantId> {
        self.slot(id).map_or_else(Vec::new, |a| {
            self.adj[a as usize]
                .iter()
                .filter_map(|b| self.id(*b))
                .collect()
        })
    }

    /// Everyone within `max_hops` of `src`, with their distance (`src` itself at 0): one breadth-first
    /// search that answers many proximity questions about the same participant (a query's candidates).
    pub fn ball(&self, src: &ParticipantId, max_hops: u8) -> HashMap<&ParticipantId, u8> {
        let Some(s) = self.slot(src) else {
            return HashMap::new();
        };
        let mut seen: HashMap<u32, u8, BuildPair> = HashMap::with_hasher(BuildPair);
        seen.insert(s, 0);
        let mut front = vec![s];
        for d in 1..=max_hops {
            let mut next = Vec::new();
            for n in &front {
                for &m in &self.adj[*n as usize] {
                    if let std::collections::hash_map::Entry::Vacant(e) = seen.entry(m) {
                        e.insert(d);
                        next.push(m);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            front = next;
        }
        seen.into_iter()
            .filter_map(|(slot, d)| Some((self.id(slot)?, d)))
            .collect()
    }

    /// Degrees of separation between `a` and `b` (0 when equal), if within `max_hops`. Bidirectional
    /// breadth-first search: each step expands the smaller frontier, so the work is about the square root of
    /// a one-sided search's.
    pub fn proximity(&self, a: &ParticipantId, b: &ParticipantId, max_hops: u8) -> Option<u8> {
        if a == b {
            return Some(0);
        }
        let (a, b) = (self.slot(a)?, self.slot(b)?);
        let mut seen_a: HashSet<u32, BuildPair> = HashSet::with_hasher(BuildPair);
        let mut seen_b: HashSet<u32, BuildPair> = HashSet::with_hasher(BuildPair);
        seen_a.insert(a);
        seen_b.insert(b);
        let mut front_a = vec![a];
        let mut front_b = vec![b];
        let (mut da, mut db) = (0u8, 0u8);
        while da + db < max_hops && !front_a.is_empty() && !front_b.is_empty() {
            let a_side = front_a.len() <= front_b.len();
            let (front, seen, other) = if a_side {
                (&mut front_a, &mut seen_a, &seen_b)
            } else {
                (&mut front_b, &mut seen_b, &seen_a)
            };
            let mut next = Vec::new();
            for n in front.iter() {
                for &m in &self.adj[*n as usize] {
                    if other.contains(&m) {
                        return Some(da + db + 1);
                    }
                    if seen.insert(m) {
                        next.push(m);
                    }
                }
            }
            *front = next;
            if a_side {
                da += 1;
            } else {
                db += 1;
            }
        }
        None
    }
}

/// Ratings, one per rater, ratee and category.
#[derive(Debug, Default)]
pub struct Ratings {
    by_ratee: HashMap<ParticipantId, HashMap<(ParticipantId, TrustCategory), u8>>,
}

impl Ratings {
    /// Every rating held (what memory keeps of it: rater, ratee, category and score).
    pub fn iter(&self) -> impl Iterator<Item = TrustRating> + '_ {
        self.by_ratee.iter().flat_map(|(ratee, by)| {
            by.iter().map(|((rater, category), &score)| TrustRating {
                rater: rater.clone(),
                ratee: ratee.clone(),
                category: *category,
                score,
            })
        })
    }

    /// Add or replace a rating.
    pub fn put(&mut self, r: &TrustRating) {
        self.by_ratee
            .entry(r.ratee.clone())
            .or_default()
            .insert((r.rater.clone(), r.category), r.score.min(100));
    }

    /// Every rating of `ratee`.
    pub fn of(&self, ratee: &ParticipantId) -> Vec<TrustRating> {
        self.by_ratee.get(ratee).map_or_else(Vec::new, |m| {
            m.iter()
                .map(|((rater, category), score)| TrustRating {
                    rater: rater.clone(),
                    ratee: ratee.clone(),
                    category: *category,
                    score: *score,
                })
                .collect()
        })
    }

    /// Every rating `rater` gave.
    pub fn by(&self, rater: &ParticipantId) -> Vec<TrustRating> {
        let mut out = Vec::new();
        for (ratee, m) in &self.by_ratee {
            for ((r, category), score) in m {
                if r == rater {
                    out.push(TrustRating {
                        rater: r.clone(),
                        ratee: ratee.clone(),
                        category: *category,
                        score: *score,
                    });
                }
            }
        }
        out
    }

    /// Forget `id` as ratee, and drop their ratings of others (erasure).
    pub fn erase(&mut self, id: &ParticipantId) {
        self.by_ratee.remove(id);
        for m in self.by_ratee.values_mut() {
            m.retain(|(rater, _), _| rater != id);
        }
    }

    /// One rater's view of a ratee: their overall rating, or the mean of their categories.
    fn rater_score(
        m: &HashMap<(ParticipantId, TrustCategory), u8>,
        rater: &ParticipantId,
    ) -> Option<f64> {
        if let Some(s) = m.get(&(rater.clone(), TrustCategory::Overall)) {
            return Some(f64::from(*s));
        }
        let v: Vec<f64> = m
            .iter()
            .filter(|((r, _), _)| r == rater)
            .map(|(_, s)| f64::from(*s))
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    }
}

/// The weights of the composite trust score (documented in docs/directory.md).
pub mod weights {
    /// The asker's own rating of the participant.
    pub const DIRECT: f64 = 0.40;
    /// Everyone's ratings, weighted by how close each rater is to the asker (decay per hop).
    pub const NETWORK: f64 = 0.25;
    /// How close the participant is to the asker.
    pub const PROXIMITY: f64 = 0.20;
    /// How well the participant's identity is verified.
    pub const VERIFICATION: f64 = 0.15;
    /// A rater `d` hops from the asker counts `DECAY^d`; a rater beyond the hop limit counts `STRANGER`.
    pub const DECAY: f64 = 0.5;
    /// See [`DECAY`].
    pub const STRANGER: f64 = 0.1;
    /// Hops considered for proximity and propagation.
    pub const HOPS: u8 = 3;
}

/// Proximity as a 0–1 score: 1 hop 1.0, 2 hops 0.66, 3 hops 0.33, further or unknown 0.
pub fn proximity_score(hops: Option<u8>) -> f64 {
    match hops {
        Some(0 | 1) => 1.0,
        Some(2) => 0.66,
        Some(3) => 0.33,
        _ => 0.0,
    }
}

const fn verification_score(v: VerificationLevel) -> f64 {
    match v {
        VerificationLevel::None => 0.0,
        VerificationLevel::Email => 0.4,
        VerificationLevel::Organization => 0.7,
        VerificationLevel::Strong => 1.0,
    }
}

/// The composite trust score (0–100) of `ratee` as seen by `asker`: the weighted mean of the parts that
/// exist (direct rating, network reputation, proximity, verification); a part without data drops out and
/// the others' weights are scaled up.
pub fn trust(
    graph: &Graph,
    ratings: &Ratings,
    asker: Option<&ParticipantId>,
    ratee: &ParticipantId,
    verification: VerificationLevel,
) -> u8 {
    let dist = |x: &ParticipantId| asker.and_then(|a| graph.proximity(a, x, weights::HOPS));
    trust_with(ratings, asker, &dist, ratee, verification)
}

/// [`trust`] with the asker's distances given by `dist` (for example a [`Graph::ball`] around the asker,
/// when many ratees are scored for one asker).
pub fn trust_with(
    ratings: &Ratings,
    asker: Option<&ParticipantId>,
    dist: &dyn Fn(&ParticipantId) -> Option<u8>,
    ratee: &ParticipantId,
    verification: VerificationLevel,
) -> u8 {
    use weights::{DECAY, DIRECT, NETWORK, PROXIMITY, STRANGER, VERIFICATION};
    let mut parts: Vec<(f64, f64)> = vec![(VERIFICATION, verification_score(verification))];
    let m = ratings.by_ratee.get(ratee);
    if let Some(asker) = asker {
        parts.push((PROXIMITY, proximity_score(dist(ratee))));
        if let Some(d) = m.and_then(|m| Ratings::rater_score(m, asker)) {
            parts.push((DIRECT, d / 100.0));
        }
    }
    if let Some(m) = m {
        let mut raters: Vec<&ParticipantId> = m.keys().map(|(r, _)| r).collect();
        raters.sort();
        raters.dedup();
        let (mut sum, mut w) = (0.0, 0.0);
        for r in raters {
            if Some(r) == asker {
                continue;
            }
            let weight = asker
                .and(dist(r))
                .map_or(STRANGER, |d| DECAY.powi(i32::from(d)));
            if let Some(s) = Ratings::rater_score(m, r) {
                sum += weight * s / 100.0;
                w += weight;
            }
        }
        if w > 0.0 {
            parts.push((NETWORK, sum / w));
        }
    }
    let total: f64 = parts.iter().map(|(w, _)| w).sum();
    let score = parts.iter().map(|(w, s)| w * s).sum::<f64>() / total;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let s = (score * 100.0).round().clamp(0.0, 100.0) as u8;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: usize) -> ParticipantId {
        ParticipantId::parse(&format!("p{i}@x.example")).unwrap()
    }

    fn link(g: &mut Graph, a: usize, b: usize) {
        g.put(&Relationship {
            from: id(a),
            to: id(b),
            kind: RelationshipKind::Colleague,
            mutual: true,
        });
    }

    #[test]
    fn proximity_counts_hops_within_the_limit() {
        let mut g = Graph::default();
        for i in 0..6 {
            link(&mut g, i, i + 1);
        }
        assert_eq!(g.proximity(&id(0), &id(0), 3), Some(0));
        assert_eq!(g.proximity(&id(0), &id(1), 3), Some(1));
        assert_eq!(g.proximity(&id(0), &id(3), 3), Some(3));
        assert_eq!(g.proximity(&id(0), &id(4), 3), None);
        assert_eq!(g.proximity(&id(0), &id(4), 4), Some(4));
        g.remove(&id(1), &id(2));
        assert_eq!(g.proximity(&id(0), &id(3), 6), None);
    }

    #[test]
    fn trust_prefers_the_askers_own_rating_and_near_raters() {
        let mut g = Graph::default();
        link(&mut g, 0, 1);
        let mut r = Ratings::default();
        let rate = |r: &mut Ratings, rater, score| {
            r.put(&TrustRating {
                rater: id(rater),
                ratee: id(9),
                category: TrustCategory::Overall,
                score,
            });
        };
        rate(&mut r, 1, 90); // the asker's colleague
        rate(&mut r, 5, 10); // a stranger
        let t = trust(&g, &r, Some(&id(0)), &id(9), VerificationLevel::None);
        // Network part: (0.5·0.9 + 0.1·0.1) / 0.6 = 0.767; proximity 0; verification 0.
        assert_eq!(t, 32);
        rate(&mut r, 0, 100);
        // Direct 1.0 (0.40) + network 0.767 (0.25), over 1.0.
        assert_eq!(
            trust(&g, &r, Some(&id(0)), &id(9), VerificationLevel::None),
            59
        );
    }
}
