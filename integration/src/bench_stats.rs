//! Paired-trial statistics for the benchmarks: per-pair ratios, their spread, and the
//! sentence the data supports (no claim stronger than the spread allows).

use serde_json::{Value, json};

/// Per-pair ratios `baseline[i] / measured[i]` of two equally long, paired series of times
/// (trial `i` of each side ran next to the other): above 1 the measured side was faster in
/// that pair. Pairs with a time that is not positive are skipped.
pub fn pair_ratios(measured: &[f64], baseline: &[f64]) -> Vec<f64> {
    measured
        .iter()
        .zip(baseline)
        .filter(|(m, b)| **m > 0.0 && **b > 0.0)
        .map(|(m, b)| b / m)
        .collect()
}

/// The spread of a set of per-pair ratios.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// How many pairs.
    pub n: usize,
    /// The median ratio (the mean of the two middle ones for an even count).
    pub median: f64,
    /// The smallest ratio.
    pub min: f64,
    /// The largest ratio.
    pub max: f64,
}

impl Spread {
    /// The spread of `ratios`; `None` when there are none.
    pub fn of(ratios: &[f64]) -> Option<Spread> {
        if ratios.is_empty() {
            return None;
        }
        let mut v = ratios.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Spread {
            n,
            median,
            min: v[0],
            max: v[n - 1],
        })
    }

    /// What the pairs support, in words, for "`measured` against `baseline`": "within
    /// noise" when the ratios fall on both sides of 1 (or on it), else faster or slower in
    /// every pair, by how much at least and at most.
    pub fn verdict(&self, measured: &str, baseline: &str) -> String {
        let pct = |x: f64| format!("{:.1} %", 100.0 * x);
        let range = format!(
            "{} to {} (median {})",
            pct(self.min),
            pct(self.max),
            pct(self.median)
        );
        let n = self.n;
        if self.min <= 1.0 && self.max >= 1.0 {
            format!(
                "{measured} ≈ {baseline}, within noise: the {n} paired ratios run from {range}, \
                 on both sides of 100 %"
            )
        } else {
            let side = if self.max < 1.0 { "slower" } else { "faster" };
            format!(
                "{measured} {side} than {baseline} in every one of {n} pairs: {range} of its rate"
            )
        }
    }

    /// `n`, `median`, `min`, `max` as JSON, rounded to 4 decimals.
    pub fn json(&self) -> Value {
        let r = |x: f64| (x * 10_000.0).round() / 10_000.0;
        json!({
            "n": self.n,
            "median": r(self.median),
            "min": r(self.min),
            "max": r(self.max),
        })
    }
}

/// Which side goes first in trial `i`: the measured side on even trials, the baseline on
/// odd ones, so that a drift in the machine's load favours neither.
pub fn measured_first(trial: usize) -> bool {
    trial.is_multiple_of(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_ratios_are_baseline_over_measured_pair_by_pair() {
        let r = pair_ratios(&[2.0, 1.0, 4.0], &[1.0, 1.0, 5.0]);
        assert_eq!(r, vec![0.5, 1.0, 1.25]);
    }

    #[test]
    fn pair_ratios_skip_pairs_without_a_positive_time() {
        assert_eq!(pair_ratios(&[0.0, 2.0], &[1.0, 1.0]), vec![0.5]);
        assert!(pair_ratios(&[1.0], &[]).is_empty());
    }

    #[test]
    fn spread_takes_the_middle_of_an_odd_or_even_count() {
        let s = Spread::of(&[1.2, 0.8, 1.0]).unwrap();
        assert_eq!((s.n, s.median, s.min, s.max), (3, 1.0, 0.8, 1.2));
        let s = Spread::of(&[0.9, 1.1, 1.0, 1.2]).unwrap();
        assert!((s.median - 1.05).abs() < 1e-12);
        assert!(Spread::of(&[]).is_none());
    }

    #[test]
    fn a_spread_covering_one_reads_within_noise() {
        let v = Spread::of(&[0.85, 1.14, 0.98])
            .unwrap()
            .verdict("agent", "raw");
        assert!(v.starts_with("agent ≈ raw, within noise"), "{v}");
        assert!(v.contains("85.0 % to 114.0 %"), "{v}");
    }

    #[test]
    fn a_spread_entirely_below_or_above_one_says_so() {
        let v = Spread::of(&[0.90, 0.95]).unwrap().verdict("agent", "raw");
        assert!(
            v.starts_with("agent slower than raw in every one of 2 pairs"),
            "{v}"
        );
        let v = Spread::of(&[1.05, 1.2]).unwrap().verdict("agent", "raw");
        assert!(
            v.starts_with("agent faster than raw in every one of 2 pairs"),
            "{v}"
        );
    }

    #[test]
    fn trials_alternate_which_side_goes_first() {
        let order: Vec<bool> = (0..4).map(measured_first).collect();
        assert_eq!(order, vec![true, false, true, false]);
    }
}
