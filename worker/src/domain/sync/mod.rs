//! Steam league match sync (SPEC §7.2): paging the league history, storing
//! each match in one transaction, and keeping player lines linked to users.

pub mod ingest;
pub mod league_sync;
pub mod link;
