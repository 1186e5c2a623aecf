//! How many times one sync may try, pure: after each attempt's outcome, whether to stop,
//! observe everything again (and forget which config HAProxy loaded), or give up.

use super::ReloadReason;

/// The budgets of one sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Attempts (observe, plan, act) in all.
    pub attempts: usize,
    /// Reloads in all.
    pub reloads: usize,
    /// After this many refused plans, rebuild HAProxy from a full config (the next plan
    /// reloads) instead of patching what it runs.
    pub refusals_before_rebuild: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            attempts: 4,
            reloads: 2,
            refusals_before_rebuild: 3,
        }
    }
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The plan wants a reload for this reason (not done yet).
    WantsReload(ReloadReason),
    /// Nothing left to do, or every command was accepted.
    Done,
    /// HAProxy refused some commands (their errors).
    Refused(Vec<String>),
}

/// What the sync does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Stop: the sync succeeded.
    Stop,
    /// Reload for this reason, then observe everything.
    Reload(ReloadReason),
    /// Observe everything and plan again.
    ObserveAll,
    /// Observe everything, forget which config HAProxy loaded (so the plan reloads), plan.
    Rebuild,
    /// Give up with this explanation.
    GiveUp(String),
}

/// The state of one sync's attempts.
#[derive(Debug, Clone, Default)]
pub struct Attempts {
    budget: Budget,
    attempts: usize,
    reloads: usize,
    refusals: usize,
    last_errors: Vec<String>,
}

impl Attempts {
    /// A fresh sync with `budget`.
    pub fn new(budget: Budget) -> Self {
        Self {
            budget,
            ..Self::default()
        }
    }

    /// Whether another attempt may start.
    pub fn may_try(&self) -> bool {
        self.attempts < self.budget.attempts
    }

    /// What to do after an attempt came to `outcome`.
    pub fn after(&mut self, outcome: Outcome) -> Next {
        self.attempts += 1;
        match outcome {
            Outcome::Done => Next::Stop,
            Outcome::WantsReload(reason) if self.reloads >= self.budget.reloads => {
                Next::GiveUp(format!(
                    "still wants a reload ({reason}) after {} reloads",
                    self.reloads
                ))
            }
            Outcome::WantsReload(reason) => {
                self.reloads += 1;
                Next::Reload(reason)
            }
            Outcome::Refused(errors) => {
                self.refusals += 1;
                self.last_errors = errors;
                if !self.may_try() {
                    Next::GiveUp(self.last_errors.join("; "))
                } else if self.refusals == self.budget.refusals_before_rebuild {
                    Next::Rebuild
                } else {
                    Next::ObserveAll
                }
            }
        }
    }

    /// Why the sync ended without success when the attempts ran out.
    pub fn exhausted(&self) -> String {
        if self.last_errors.is_empty() {
            format!("no convergence after {} attempts", self.attempts)
        } else {
            self.last_errors.join("; ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(outcomes: Vec<Outcome>) -> Vec<Next> {
        let mut a = Attempts::new(Budget::default());
        let mut out = Vec::new();
        for o in outcomes {
            assert!(a.may_try(), "tried past the budget: {out:?}");
            let next = a.after(o);
            let stop = matches!(next, Next::Stop | Next::GiveUp(_));
            out.push(next);
            if stop {
                break;
            }
        }
        out
    }

    #[test]
    fn budgets() {
        let refused = || Outcome::Refused(vec!["No such server.".into()]);
        let reload = || Outcome::WantsReload(ReloadReason::Structure);
        // (outcomes, what follows each)
        let table: Vec<(Vec<Outcome>, Vec<Next>)> = vec![
            (vec![Outcome::Done], vec![Next::Stop]),
            (
                vec![reload(), Outcome::Done],
                vec![Next::Reload(ReloadReason::Structure), Next::Stop],
            ),
            (
                vec![reload(), reload(), reload()],
                vec![
                    Next::Reload(ReloadReason::Structure),
                    Next::Reload(ReloadReason::Structure),
                    Next::GiveUp("still wants a reload (structure) after 2 reloads".into()),
                ],
            ),
            (
                vec![refused(), Outcome::Done],
                vec![Next::ObserveAll, Next::Stop],
            ),
            // The third refusal rebuilds from a full config; the fourth gives up.
            (
                vec![refused(), refused(), refused(), refused()],
                vec![
                    Next::ObserveAll,
                    Next::ObserveAll,
                    Next::Rebuild,
                    Next::GiveUp("No such server.".into()),
                ],
            ),
            (
                vec![refused(), refused(), refused(), reload()],
                vec![
                    Next::ObserveAll,
                    Next::ObserveAll,
                    Next::Rebuild,
                    Next::Reload(ReloadReason::Structure),
                ],
            ),
        ];
        for (outcomes, want) in table {
            let what = format!("{outcomes:?}");
            assert_eq!(run(outcomes), want, "{what}");
        }
    }

    #[test]
    fn attempts_run_out() {
        let mut a = Attempts::new(Budget {
            attempts: 1,
            ..Budget::default()
        });
        assert_eq!(
            a.after(Outcome::WantsReload(ReloadReason::Startup)),
            Next::Reload(ReloadReason::Startup)
        );
        assert!(!a.may_try());
        assert_eq!(a.exhausted(), "no convergence after 1 attempts");
    }
}
