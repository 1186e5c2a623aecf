//! A map kept as one vector sorted by key: a `BTreeMap`'s interface for the many small maps
//! (a backend's servers) whose B-tree node would hold room for eleven entries.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;

/// A map from `K` to `V` in one vector sorted by key, each key once. Lookups are binary
/// searches; an insert moves the entries after it, so it suits maps of a few hundred
/// entries or filled in key order (an insert after the last key is a push), and bulk
/// building goes through [`FromIterator`] (one sort). Iteration is in key order.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SortedMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for SortedMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl<K, V> SortedMap<K, V> {
    /// An empty map (no allocation).
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The entries in key order.
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter(self.entries.iter())
    }

    /// The entries in key order, values mutable.
    pub fn iter_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = (&K, &mut V)> + ExactSizeIterator {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The values in key order, mutable.
    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// Keeps the entries for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    /// Gives back the room the vector holds beyond its entries.
    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    fn find<Q>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        // Filled in key order, the next key is usually past the last one.
        match self.entries.last() {
            Some((last, _)) if last.borrow() < key => Err(self.entries.len()),
            None => Err(0),
            _ => self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key)),
        }
    }

    /// The value at `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    /// The entry at `key`.
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(key).ok().map(|i| {
            let (k, v) = &self.entries[i];
            (k, v)
        })
    }

    /// The value at `key`, mutable.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(key).ok().map(|i| &mut self.entries[i].1)
    }

    /// True when `key` has a value.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(key).is_ok()
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes `key`; returns its value.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }

    /// The value at `key`, inserted as `V::default()` when absent.
    pub fn get_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.entries.insert(i, (key, V::default()));
                i
            }
        };
        &mut self.entries[i].1
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    /// Maps by group from `(group, key, value)` rows that mostly come group by group (as
    /// `show servers state` lists servers backend by backend): each run of one group is
    /// gathered in one reused buffer and moved into a vector of its exact size, where
    /// inserting row by row grew every map by doubling. A group seen again later is merged
    /// (of equal keys the last row stays, as everywhere here).
    pub fn grouped<G: Ord>(
        rows: impl IntoIterator<Item = (G, K, V)>,
    ) -> BTreeMap<G, SortedMap<K, V>> {
        let mut maps = BTreeMap::new();
        let mut run: Vec<(K, V)> = Vec::new();
        let mut current: Option<G> = None;
        let mut flush = |group: Option<G>, run: &mut Vec<(K, V)>| {
            if let Some(group) = group {
                let map: &mut SortedMap<K, V> = maps.entry(group).or_default();
                if map.is_empty() {
                    *map = run.drain(..).collect();
                } else {
                    map.extend(run.drain(..));
                }
            }
        };
        for (group, k, v) in rows {
            if current.as_ref() != Some(&group) {
                flush(current.replace(group), &mut run);
            }
            run.push((k, v));
        }
        flush(current, &mut run);
        maps
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for SortedMap<K, V> {
    /// Collects, sorts once; of equal keys the last one stays (as in a `BTreeMap`).
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut entries: Vec<(K, V)> = iter.into_iter().collect();
        // Stable: equal keys keep their order, and the last of each run is the one kept.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.reverse();
        entries.dedup_by(|later, earlier| later.0 == earlier.0);
        entries.reverse();
        entries.shrink_to_fit();
        Self { entries }
    }
}

impl<K: Ord, V> Extend<(K, V)> for SortedMap<K, V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K: Ord, V, const N: usize> From<[(K, V); N]> for SortedMap<K, V> {
    fn from(entries: [(K, V); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl<K, Q, V> std::ops::Index<&Q> for SortedMap<K, V>
where
    K: Ord + Borrow<Q>,
    Q: Ord + ?Sized,
{
    type Output = V;

    fn index(&self, key: &Q) -> &V {
        self.get(key)
            .expect("no entry for the key in the SortedMap")
    }
}

/// An iterator over a [`SortedMap`]'s entries, in key order.
#[derive(Debug, Clone)]
pub struct Iter<'a, K, V>(std::slice::Iter<'a, (K, V)>);

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<K, V> DoubleEndedIterator for Iter<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (k, v))
    }
}

impl<K, V> ExactSizeIterator for Iter<'_, K, V> {}

impl<'a, K, V> IntoIterator for &'a SortedMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<K, V> IntoIterator for SortedMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u16),
        Remove(u8),
        Retain(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<u8>(), any::<u16>()).prop_map(|(k, v)| Op::Insert(k, v)),
            any::<u8>().prop_map(Op::Remove),
            any::<u8>().prop_map(Op::Retain),
        ]
    }

    proptest! {
        #[test]
        fn behaves_as_a_btreemap(
            start in proptest::collection::vec((any::<u8>(), any::<u16>()), 0..40),
            ops in proptest::collection::vec(op(), 0..80),
        ) {
            let mut model: BTreeMap<u8, u16> = start.iter().copied().collect();
            let mut map: SortedMap<u8, u16> = start.iter().copied().collect();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(map.insert(k, v), model.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(map.remove(&k), model.remove(&k)),
                    Op::Retain(m) => {
                        map.retain(|k, _| k % (m | 1) != 0);
                        model.retain(|k, _| k % (m | 1) != 0);
                    }
                }
                prop_assert_eq!(map.len(), model.len());
                prop_assert!(map.iter().eq(model.iter()));
                prop_assert!(map.iter().rev().eq(model.iter().rev()));
                for k in [0u8, 7, 100, 255] {
                    prop_assert_eq!(map.get(&k), model.get(&k));
                    prop_assert_eq!(map.contains_key(&k), model.contains_key(&k));
                }
            }
        }
    }

    proptest! {
        #[test]
        fn grouped_rows_are_the_maps_inserted_row_by_row(
            rows in proptest::collection::vec((0u8..4, any::<u8>(), any::<u16>()), 0..60),
            sorted in any::<bool>(),
        ) {
            let mut rows = rows;
            if sorted {
                // Group by group, as HAProxy lists them.
                rows.sort_by_key(|r| r.0);
            }
            let mut model: BTreeMap<u8, BTreeMap<u8, u16>> = BTreeMap::new();
            for (g, k, v) in rows.iter().copied() {
                model.entry(g).or_default().insert(k, v);
            }
            let maps = SortedMap::grouped(rows);
            prop_assert!(maps.keys().eq(model.keys()));
            for (g, map) in &maps {
                prop_assert!(map.iter().eq(model[g].iter()));
                if sorted {
                    prop_assert_eq!(map.entries.capacity(), map.len());
                }
            }
        }
    }

    #[test]
    fn collecting_keeps_the_last_of_equal_keys_and_no_spare_room() {
        let map: SortedMap<&str, u8> = [("b", 1), ("a", 2), ("b", 3), ("a", 4), ("c", 5)]
            .into_iter()
            .collect();
        assert_eq!(
            map.iter().collect::<Vec<_>>(),
            [(&"a", &4), (&"b", &3), (&"c", &5)]
        );
        assert_eq!(map.entries.capacity(), 3);
        let mut map = map;
        *map.get_or_default("d") += 9;
        *map.get_or_default("a") += 1;
        assert_eq!(map[&"d"], 9);
        assert_eq!(map[&"a"], 5);
        assert_eq!(format!("{map:?}"), r#"{"a": 5, "b": 3, "c": 5, "d": 9}"#);
    }
}
