//! What translation reports for the Gateway API objects we manage, by object key (the
//! status writer, `/debug/state` and `ctl gateway` read it).

use std::collections::BTreeMap;

use crate::gateway_api::{GatewayClassStatus, GatewayStatus, RouteStatus};
use crate::store::ObjectKey;

/// The status translation computes for the Gateway API objects we manage, by object key.
/// Conditions carry `observedGeneration`; their `lastTransitionTime` is left at the Unix
/// epoch by (pure) translation and set by the status writer, which keeps a condition's
/// earlier time when its status did not change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Statuses {
    /// GatewayClasses whose `controllerName` is ours.
    pub classes: BTreeMap<ObjectKey, GatewayClassStatus>,
    /// Gateways of those classes (`addresses` filled by the status writer).
    pub gateways: BTreeMap<ObjectKey, GatewayStatus>,
    /// HTTPRoutes with at least one parent that is ours (only those parents listed).
    pub routes: BTreeMap<ObjectKey, RouteStatus>,
}
