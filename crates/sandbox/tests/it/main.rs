//! Integration tests of the sandbox platform over real HTTP on loopback, with a manual clock.

mod api;
mod authorize;
mod connected;
mod data;
mod helpers;
mod in_process;
mod token;
