//! The Custos node API: the gRPC service definitions generated from `proto/custos.proto`,
//! mutual TLS with agency certificates ([`tls`]), and a client ([`client`]).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

/// Generated protobuf and gRPC code.
#[allow(missing_docs, clippy::all, clippy::pedantic, missing_debug_implementations)]
pub mod pb {
    tonic::include_proto!("custos.v1");
}

pub mod client;
pub mod tls;

/// Metadata key naming the kind of a refused submission.
pub const ERROR_KIND_KEY: &str = "custos-error";
