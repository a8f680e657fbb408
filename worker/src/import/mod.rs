//! Bringing a league over from another system: `draftforge` reads the
//! original Django application's database (SPEC §19).

pub mod draftforge;
