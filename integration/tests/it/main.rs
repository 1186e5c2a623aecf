//! Integration tests against real HAProxy processes and real backends, in one test binary.

mod harness;
mod runtime;
