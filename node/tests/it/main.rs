//! Integration tests of the node crate: the RocksDB store on a temporary folder, the mempool,
//! and five-node networks of the real binary (consensus, crashes, partitions, hostile clients).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod byzantine;
mod crash;
mod hostile;
mod mempool;
mod mempool_props;
mod network;
mod partition;
mod store;
