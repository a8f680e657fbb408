//! Captain's-Mode hero drafts (SPEC §10). So far the pure rules; the state
//! machine endpoints, timeouts and WebSockets come with the rest of issue 4.

pub mod rules;
