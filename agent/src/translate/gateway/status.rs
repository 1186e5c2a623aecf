//! Status conditions as the spec names them: type, status, reason, message and
//! `observedGeneration`; `lastTransitionTime` stays at the Unix epoch (the status writer
//! sets it, keeping an unchanged condition's earlier time).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};

/// A condition of an object at `meta`'s generation.
pub(in crate::translate) fn condition(
    meta: &ObjectMeta,
    type_: &str,
    ok: bool,
    reason: &str,
    message: impl Into<String>,
) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message: message.into(),
        observed_generation: meta.generation,
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    }
}

/// The first failure of a set of checks, or success: what a `ResolvedRefs` (or similar)
/// condition reports when several references may fail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(in crate::translate) struct FirstFailure(Option<(&'static str, String)>);

impl FirstFailure {
    /// Records a failure (the first one is kept).
    pub(in crate::translate) fn fail(&mut self, reason: &'static str, message: impl Into<String>) {
        if self.0.is_none() {
            self.0 = Some((reason, message.into()));
        }
    }

    /// True when nothing failed.
    pub(in crate::translate) fn ok(&self) -> bool {
        self.0.is_none()
    }

    /// The condition: `ok_reason` when nothing failed, else the first failure.
    pub(in crate::translate) fn condition(
        &self,
        meta: &ObjectMeta,
        type_: &str,
        ok_reason: &str,
        ok_message: &str,
    ) -> Condition {
        match &self.0 {
            None => condition(meta, type_, true, ok_reason, ok_message),
            Some((reason, message)) => condition(meta, type_, false, reason, message.clone()),
        }
    }
}

type Failure = Option<(&'static str, String)>;

/// A Gateway's `Accepted` and `Programmed`: `served` of `total` listeners are (or, for an
/// `unusable` address, would be) served.
pub(super) fn gateway_conditions(
    meta: &ObjectMeta,
    not_accepted: Failure,
    unusable: Failure,
    served: usize,
    total: usize,
) -> Vec<Condition> {
    let accepted = if let Some((reason, message)) = not_accepted {
        condition(meta, "Accepted", false, reason, message)
    } else if served == total {
        condition(meta, "Accepted", true, "Accepted", "accepted")
    } else {
        let ok = served > 0;
        condition(
            meta,
            "Accepted",
            ok,
            "ListenersNotValid",
            "some listeners are not valid",
        )
    };
    let programmed = if let Some((reason, why)) = unusable {
        condition(meta, "Programmed", false, reason, why)
    } else if accepted.status == "True" && served > 0 {
        condition(meta, "Programmed", true, "Programmed", "served by HAProxy")
    } else {
        condition(
            meta,
            "Programmed",
            false,
            "Invalid",
            "no listener is served",
        )
    };
    vec![accepted, programmed]
}
