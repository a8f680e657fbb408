//! The DTX schema (SPEC §2) as one sea-orm migrator. The same statements run
//! on SQLite and PostgreSQL; `up` → `down` → `up` is tested on both.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_schema;
mod m20261126_000001_identity;
mod m20261127_000001_brackets;
mod m20261128_000001_people;
mod m20261129_000001_import_map;
mod m20261206_000001_job_control;
mod m20261207_000001_night;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_schema::Migration),
            Box::new(m20261126_000001_identity::Migration),
            Box::new(m20261127_000001_brackets::Migration),
            Box::new(m20261128_000001_people::Migration),
            Box::new(m20261129_000001_import_map::Migration),
            Box::new(m20261206_000001_job_control::Migration),
            Box::new(m20261207_000001_night::Migration),
        ]
    }
}
