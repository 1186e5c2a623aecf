//! The manifests source (`--manifests DIR`): reads Kubernetes objects from the `*.yaml` and
//! `*.yml` files of a directory, follows edits to them, and keeps the object store equal to
//! the union of every file's objects.
//!
//! - [`parse_manifests`] is pure: one file's text in, its objects or one [`Problem`] out.
//! - [`ManifestsSource::scan`] reads the directory once (synchronously), re-parses only the
//!   files whose content changed, and writes the store when the union of objects changed. A
//!   file that stops parsing keeps its previous objects until it parses again.
//! - [`ManifestsSource::run`] scans, then follows the directory with `notify`, coalescing
//!   bursts of events before each rescan, until its shutdown future completes.
//!
//! [`Problem`]: crate::problem::Problem

mod follow;
mod parse;
mod scan;

#[cfg(test)]
pub(crate) use follow::BURST;
pub use parse::parse_manifests;
pub use scan::{ManifestsSource, ScanOutcome};
