//! Integration tests of `dossier-net`: real hubs on 127.0.0.1:0, real WebSocket clients.

#![allow(clippy::unwrap_used)]

mod auth;
mod convergence;
mod ingress;
mod lifecycle;
mod scope;
mod support;
mod tls;
