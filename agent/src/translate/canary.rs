//! Canary weights: a percentage of a backend's traffic to a second Service, held whatever
//! the pod counts by giving each side's servers a share of HAProxy's 0-256 weight range.

/// Per-server weights `(primary, canary)` so that the canary side gets `percent` % of
/// requests: each side's total weight is in proportion, scaled so the larger per-server
/// weight is 256 (the most precision HAProxy allows).
pub fn weights(percent: u8, primary_servers: usize, canary_servers: usize) -> (u16, u16) {
    let p = f64::from(percent.min(100));
    match (primary_servers, canary_servers) {
        (0, 0) => (0, 0),
        (_, 0) => (256, 0),
        (0, _) => (0, 256),
        (np, nc) => {
            let a = (100.0 - p) / np as f64;
            let b = p / nc as f64;
            let m = a.max(b);
            let share = |wa: u16, wb: u16| {
                let (ta, tb) = (np as f64 * f64::from(wa), nc as f64 * f64::from(wb));
                100.0 * tb / (ta + tb)
            };
            // Integer weights lose precision on the small side: try every top weight and keep
            // the split closest to the percentage (the larger top weight on ties).
            let mut best = (256u16, 256u16, f64::INFINITY);
            for top in (1..=256u16).rev() {
                let scale = |x: f64| -> u16 {
                    if x == 0.0 {
                        0
                    } else {
                        ((f64::from(top) * x / m).round() as u16).clamp(1, 256)
                    }
                };
                let (wa, wb) = (scale(a), scale(b));
                let err = (share(wa, wb) - p).abs();
                if err < best.2 - 1e-9 {
                    best = (wa, wb, err);
                }
            }
            (best.0, best.1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let table = [
            (0u8, 3usize, 1usize, (256u16, 0u16)),
            (100, 3, 1, (0, 256)),
            (50, 1, 1, (256, 256)),
            (20, 4, 1, (256, 256)),
            (20, 1, 1, (256, 64)),
            (10, 2, 2, (252, 28)),
            (30, 0, 2, (0, 256)),
            (30, 2, 0, (256, 0)),
        ];
        for (p, np, nc, want) in table {
            assert_eq!(weights(p, np, nc), want, "{p}% {np}/{nc}");
        }
    }

    proptest! {
        #[test]
        fn split_is_within_a_percent(p in 1u8..100, np in 1usize..20, nc in 1usize..20) {
            // Feasible splits only: the small side's ideal weight is at least 10 when the
            // large side's is 256.
            let (ra, rb) = ((100.0 - f64::from(p)) / np as f64, f64::from(p) / nc as f64);
            prop_assume!(256.0 * ra.min(rb) / ra.max(rb) >= 10.0);
            let (a, b) = weights(p, np, nc);
            let share = 100.0 * (nc as f64 * f64::from(b)) / (np as f64 * f64::from(a) + nc as f64 * f64::from(b));
            prop_assert!((share - f64::from(p)).abs() < 1.0, "{share} vs {p}");
        }
    }
}
