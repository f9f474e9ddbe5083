//! Integration tests of the node crate: the RocksDB store on a temporary folder and the mempool.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod mempool;
mod mempool_props;
mod network;
mod store;
