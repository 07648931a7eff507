//! The in-memory watchlist index: every descriptor of every list, for one model version, searched by
//! cosine similarity (descriptors are L2-normalised, so the dot product).
//!
//! [`VectorIndex`] is the search contract; [`FlatIndex`] is the exact one: all vectors in one
//! contiguous array scanned with SIMD dot products (AVX2+FMA when the CPU has them), split across
//! threads. An approximate index (IVF, HNSW) implements the same trait and slots in per list.
//! Memory: 4 bytes per value, so 1M 192-d descriptors take 768 MB plus 4 bytes each for their owner.

use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// Searches a set of vectors by inner product.
pub trait VectorIndex: Send + Sync {
    /// Number of vectors.
    fn len(&self) -> usize;

    /// Whether there are no vectors.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The similarity of `query` to every vector, in row order, into `scores` (resized to fit).
    fn scores(&self, query: &[f32], scores: &mut Vec<f32>);

    /// The similarities of several queries (concatenated, `dim` values each) to every vector,
    /// row-major: `scores[row * queries + query]`. The default asks [`Self::scores`] query by query.
    fn scores_many(&self, queries: &[f32], dim: usize, scores: &mut Vec<f32>) {
        let count = queries.len().checked_div(dim).unwrap_or(0);
        let rows = self.len();
        scores.clear();
        scores.resize(rows * count, 0.0);
        let mut one = Vec::new();
        for (q, query) in queries.chunks_exact(dim.max(1)).enumerate() {
            self.scores(query, &mut one);
            for (row, score) in one.iter().enumerate() {
                scores[row * count + q] = *score;
            }
        }
    }
}

/// Exact search over vectors stored row after row.
#[derive(Debug, Clone)]
pub struct FlatIndex {
    dim: usize,
    values: Vec<f32>,
    threads: usize,
}

/// Rows per thread below which splitting the scan costs more than it saves.
const MIN_ROWS_PER_THREAD: usize = 16_384;

impl FlatIndex {
    /// An empty index of `dim`-dimensional vectors scanned with up to `threads` threads.
    pub fn new(dim: usize, threads: usize) -> Self {
        Self { dim, values: Vec::new(), threads: threads.max(1) }
    }

    /// Adds a vector (ignored unless it has `dim` values).
    pub fn push(&mut self, vector: &[f32]) -> bool {
        if vector.len() != self.dim {
            return false;
        }
        self.values.extend_from_slice(vector);
        true
    }

    /// Releases the spare capacity left by adding vectors one by one.
    pub fn shrink_to_fit(&mut self) {
        self.values.shrink_to_fit();
    }

    /// Vector length.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Bytes held by the vectors.
    pub fn memory_bytes(&self) -> usize {
        self.values.capacity() * std::mem::size_of::<f32>()
    }
}

impl VectorIndex for FlatIndex {
    fn len(&self) -> usize {
        self.values.len().checked_div(self.dim).unwrap_or(0)
    }

    fn scores(&self, query: &[f32], scores: &mut Vec<f32>) {
        let rows = self.len();
        scores.clear();
        scores.resize(rows, 0.0);
        if query.len() != self.dim || rows == 0 {
            return;
        }
        let threads = self.threads.min(rows.div_ceil(MIN_ROWS_PER_THREAD)).max(1);
        let rows_per_thread = rows.div_ceil(threads);
        let scan = |values: &[f32], out: &mut [f32]| {
            for (row, score) in values.chunks_exact(self.dim).zip(out.iter_mut()) {
                *score = dot(query, row);
            }
        };
        if threads == 1 {
            scan(&self.values, scores);
            return;
        }
        std::thread::scope(|scope| {
            for (values, out) in self.values.chunks(rows_per_thread * self.dim).zip(scores.chunks_mut(rows_per_thread))
            {
                scope.spawn(move || scan(values, out));
            }
        });
    }

    fn scores_many(&self, queries: &[f32], dim: usize, scores: &mut Vec<f32>) {
        let rows = self.len();
        let count = if dim == self.dim { queries.len() / dim } else { 0 };
        scores.clear();
        scores.resize(rows * count, 0.0);
        if rows == 0 || count == 0 {
            return;
        }
        let queries = &queries[..count * dim];
        let threads = self.threads.min(rows.div_ceil(MIN_ROWS_PER_THREAD)).max(1);
        let rows_per_thread = rows.div_ceil(threads);
        std::thread::scope(|scope| {
            for (values, out) in
                self.values.chunks(rows_per_thread * self.dim).zip(scores.chunks_mut(rows_per_thread * count))
            {
                scope.spawn(move || self.scan_many(values, queries, out));
            }
        });
    }
}

/// Rows scanned together by [`FlatIndex::scores_many`]: 256 rows of 192 floats (192 KB) stay in the
/// L2 cache while every query is compared with them, so memory is read once per batch, not per query.
const ROWS_PER_BLOCK: usize = 256;

impl FlatIndex {
    fn scan_many(&self, values: &[f32], queries: &[f32], out: &mut [f32]) {
        let count = queries.len() / self.dim;
        let block_len = ROWS_PER_BLOCK * self.dim;
        for (block, block_out) in values.chunks(block_len).zip(out.chunks_mut(ROWS_PER_BLOCK * count)) {
            for (q, query) in queries.chunks_exact(self.dim).enumerate() {
                for (r, row) in block.chunks_exact(self.dim).enumerate() {
                    block_out[r * count + q] = dot(query, row);
                }
            }
        }
    }
}

/// Dot product of two equally long slices, with AVX2+FMA when the CPU has them.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_portable(a, b)
}

/// Eight independent accumulators, which the compiler turns into SIMD on any target.
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut sums = [0.0f32; 8];
    let (chunks_a, chunks_b) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = chunks_a.remainder().iter().zip(chunks_b.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in chunks_a.zip(chunks_b) {
        for i in 0..8 {
            sums[i] += x[i] * y[i];
        }
    }
    sums.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let mut i = 0;
    // Four 8-lane accumulators hide the FMA latency.
    let (mut s0, mut s1, mut s2, mut s3) =
        (_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps());
    // SAFETY: every load reads 8 floats at offsets below `n`, within both slices.
    unsafe {
        while i + 32 <= n {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.as_ptr().add(i)), _mm256_loadu_ps(b.as_ptr().add(i)), s0);
            s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a.as_ptr().add(i + 8)), _mm256_loadu_ps(b.as_ptr().add(i + 8)), s1);
            s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a.as_ptr().add(i + 16)), _mm256_loadu_ps(b.as_ptr().add(i + 16)), s2);
            s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a.as_ptr().add(i + 24)), _mm256_loadu_ps(b.as_ptr().add(i + 24)), s3);
            i += 32;
        }
        while i + 8 <= n {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.as_ptr().add(i)), _mm256_loadu_ps(b.as_ptr().add(i)), s0);
            i += 8;
        }
    }
    let sum = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    let mut lanes = [0.0f32; 8];
    // SAFETY: `lanes` holds 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
    lanes.iter().sum::<f32>() + a[i..n].iter().zip(&b[i..n]).map(|(x, y)| x * y).sum::<f32>()
}

/// A watchlist as matching needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListInfo {
    /// List id.
    pub id: Uuid,
    /// Name, for display.
    pub name: String,
    /// Minimum similarity of a match.
    pub threshold: f32,
    /// Candidates reported per face at most.
    pub top_k: usize,
    /// Streams the list applies to; empty: all.
    pub stream_ids: Vec<String>,
}

impl ListInfo {
    /// Whether the list applies to `stream_id`.
    pub fn applies_to(&self, stream_id: &str) -> bool {
        self.stream_ids.is_empty() || self.stream_ids.iter().any(|s| s == stream_id)
    }
}

/// A listed person as a match reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonInfo {
    /// Person id.
    pub id: Uuid,
    /// Id in the system of record.
    pub external_id: String,
    /// Display name.
    pub display_name: String,
}

/// One list's people and their descriptors.
pub struct ListIndex {
    /// The list.
    pub list: ListInfo,
    persons: Vec<PersonInfo>,
    /// For each vector, the index of its person in `persons`.
    owners: Vec<u32>,
    vectors: Box<dyn VectorIndex>,
}

impl ListIndex {
    /// A list's index from its people and (person id, descriptor) rows; rows of unknown people or of
    /// another dimension are skipped.
    pub fn build(
        list: ListInfo,
        persons: Vec<PersonInfo>,
        descriptors: impl IntoIterator<Item = (Uuid, Vec<f32>)>,
        dim: usize,
        threads: usize,
    ) -> Self {
        let position: HashMap<Uuid, u32> = persons.iter().enumerate().map(|(i, p)| (p.id, i as u32)).collect();
        let mut vectors = FlatIndex::new(dim, threads);
        let mut owners = Vec::new();
        for (person, descriptor) in descriptors {
            if let Some(&owner) = position.get(&person)
                && vectors.push(&descriptor)
            {
                owners.push(owner);
            }
        }
        vectors.shrink_to_fit();
        owners.shrink_to_fit();
        Self { list, persons, owners, vectors: Box::new(vectors) }
    }

    /// Descriptors held.
    pub fn len(&self) -> usize {
        self.owners.len()
    }

    /// Whether it holds no descriptor.
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    /// The best `top_k` people at or above the threshold, each scored by their closest descriptor,
    /// best first. `scores` is scratch space.
    pub fn search(&self, query: &[f32], scores: &mut Vec<f32>) -> Vec<Candidate> {
        self.vectors.scores(query, scores);
        let mut best: HashMap<u32, f32> = HashMap::new();
        for (&owner, &score) in self.owners.iter().zip(scores.iter()) {
            if score >= self.list.threshold {
                let entry = best.entry(owner).or_insert(f32::MIN);
                *entry = entry.max(score);
            }
        }
        let mut found: Vec<(u32, f32)> = best.into_iter().collect();
        found.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        found
            .into_iter()
            .take(self.list.top_k)
            .enumerate()
            .map(|(rank, (owner, similarity))| Candidate {
                list: self.list.clone(),
                person: self.persons[owner as usize].clone(),
                similarity,
                rank: rank as u32 + 1,
            })
            .collect()
    }
}

/// One match: a listed person whose descriptor met the list's threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The list.
    pub list: ListInfo,
    /// The person.
    pub person: PersonInfo,
    /// Cosine similarity.
    pub similarity: f32,
    /// 1-based rank within the list.
    pub rank: u32,
}

/// Every list's index, replaced list by list as they change.
#[derive(Default, Clone)]
pub struct WatchlistIndex {
    lists: HashMap<Uuid, Arc<ListIndex>>,
}

impl WatchlistIndex {
    /// Puts (or replaces) a list.
    pub fn insert(&mut self, list: ListIndex) {
        self.lists.insert(list.list.id, Arc::new(list));
    }

    /// Drops a list.
    pub fn remove(&mut self, id: &Uuid) {
        self.lists.remove(id);
    }

    /// Lists held.
    pub fn list_count(&self) -> usize {
        self.lists.len()
    }

    /// Descriptors held over all lists.
    pub fn descriptor_count(&self) -> usize {
        self.lists.values().map(|l| l.len()).sum()
    }

    /// Matches of `query` in every list that applies to `stream_id`, by list name then rank.
    pub fn search(&self, stream_id: &str, query: &[f32]) -> Vec<Candidate> {
        let mut scores = Vec::new();
        let mut lists: Vec<&Arc<ListIndex>> = self.lists.values().filter(|l| l.list.applies_to(stream_id)).collect();
        lists.sort_by(|a, b| a.list.name.cmp(&b.list.name));
        lists.into_iter().flat_map(|l| l.search(query, &mut scores)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(values: &[f32]) -> Vec<f32> {
        let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
        values.iter().map(|v| v / norm).collect()
    }

    fn person(n: u128, name: &str) -> PersonInfo {
        PersonInfo { id: Uuid::from_u128(n), external_id: format!("ext-{n}"), display_name: name.into() }
    }

    fn list(n: u128, name: &str, threshold: f32, top_k: usize, streams: &[&str]) -> ListInfo {
        ListInfo {
            id: Uuid::from_u128(n),
            name: name.into(),
            threshold,
            top_k,
            stream_ids: streams.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn simd_and_portable_dot_products_agree() {
        for n in [0usize, 1, 7, 8, 31, 32, 33, 192, 515] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 37 % 17) as f32 - 8.0) / 9.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 11 % 13) as f32 - 6.0) / 7.0).collect();
            let exact: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
            assert!((f64::from(dot(&a, &b)) - exact).abs() < 1e-3, "n={n}");
            assert!((f64::from(dot_portable(&a, &b)) - exact).abs() < 1e-3, "n={n}");
        }
    }

    #[test]
    fn threaded_scans_score_every_row_like_a_single_thread() {
        let dim = 16;
        let rows = MIN_ROWS_PER_THREAD * 3 + 5;
        let mut single = FlatIndex::new(dim, 1);
        let mut threaded = FlatIndex::new(dim, 4);
        for r in 0..rows {
            let v: Vec<f32> = (0..dim).map(|i| ((r * 31 + i * 7) % 23) as f32 / 23.0).collect();
            single.push(&v);
            threaded.push(&v);
        }
        assert!(!single.push(&[1.0; 3]), "a vector of another dimension is refused");
        let query: Vec<f32> = (0..dim).map(|i| i as f32 / 16.0).collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        single.scores(&query, &mut a);
        threaded.scores(&query, &mut b);
        assert_eq!(a.len(), rows);
        assert_eq!(a, b);
        single.shrink_to_fit();
        assert_eq!(single.memory_bytes(), rows * dim * 4);
    }

    #[test]
    fn batched_scores_equal_one_query_at_a_time() {
        let dim = 12;
        let rows = MIN_ROWS_PER_THREAD + ROWS_PER_BLOCK + 7;
        let mut index = FlatIndex::new(dim, 2);
        for r in 0..rows {
            index.push(&(0..dim).map(|i| ((r * 13 + i * 5) % 17) as f32 / 17.0).collect::<Vec<f32>>());
        }
        let queries: Vec<f32> = (0..3 * dim).map(|i| ((i * 7) % 11) as f32 / 11.0 - 0.5).collect();
        let mut many = Vec::new();
        index.scores_many(&queries, dim, &mut many);
        assert_eq!(many.len(), rows * 3);
        let mut one = Vec::new();
        for (q, query) in queries.chunks_exact(dim).enumerate() {
            index.scores(query, &mut one);
            for row in 0..rows {
                assert_eq!(many[row * 3 + q], one[row], "query {q}, row {row}");
            }
        }
    }

    #[test]
    fn people_are_ranked_by_their_closest_descriptor_above_the_threshold() {
        let (ann, bob, cid) = (person(1, "Ann"), person(2, "Bob"), person(3, "Cid"));
        let descriptors = vec![
            (ann.id, unit(&[1.0, 0.0, 0.0])),
            (ann.id, unit(&[0.9, 0.1, 0.0])),
            (bob.id, unit(&[0.7, 0.7, 0.0])),
            (cid.id, unit(&[0.0, 0.0, 1.0])),
            (Uuid::from_u128(99), unit(&[1.0, 0.0, 0.0])), // nobody's: skipped
        ];
        let index = ListIndex::build(list(10, "vip", 0.5, 2, &[]), vec![ann, bob, cid], descriptors, 3, 1);
        assert_eq!(index.len(), 4);
        let found = index.search(&unit(&[1.0, 0.05, 0.0]), &mut Vec::new());
        let names: Vec<(&str, u32)> = found.iter().map(|c| (c.person.display_name.as_str(), c.rank)).collect();
        assert_eq!(names, vec![("Ann", 1), ("Bob", 2)], "top 2, Cid below the threshold");
        assert!(found[0].similarity > 0.99);
        assert!(index.search(&unit(&[0.0, -1.0, 0.0]), &mut Vec::new()).is_empty(), "a stranger matches no one");
    }

    #[test]
    fn only_the_lists_of_the_stream_are_searched() {
        let ann = person(1, "Ann");
        let row = || vec![(ann.id, unit(&[1.0, 0.0]))];
        let mut index = WatchlistIndex::default();
        index.insert(ListIndex::build(list(1, "everywhere", 0.5, 1, &[]), vec![ann.clone()], row(), 2, 1));
        index.insert(ListIndex::build(list(2, "lobby only", 0.5, 1, &["lobby"]), vec![ann.clone()], row(), 2, 1));
        assert_eq!(index.search("lobby", &[1.0, 0.0]).len(), 2);
        let elsewhere = index.search("garage", &[1.0, 0.0]);
        assert_eq!(elsewhere.len(), 1);
        assert_eq!(elsewhere[0].list.name, "everywhere");
        index.remove(&Uuid::from_u128(1));
        assert!(index.search("garage", &[1.0, 0.0]).is_empty());
        assert_eq!((index.list_count(), index.descriptor_count()), (1, 1));
    }
}
