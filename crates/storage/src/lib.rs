//! RocksDB ledger (blocks, events, bread crumbs, meta) and the hospital EMR database.
