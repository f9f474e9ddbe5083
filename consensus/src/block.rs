//! A block: header plus the encoded transactions. The type lives in `custos-primitives` (clients
//! such as the agency adapters decode blocks without the engine); it is re-exported here.

pub use custos_primitives::block::{Block, MAX_BLOCK_BYTES, MAX_BLOCK_TXS, tx_root};
