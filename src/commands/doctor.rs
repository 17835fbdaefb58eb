//! `stackwatch doctor` (stub until written).
use anyhow::Result;

use crate::cli::{DoctorArgs, Global};

pub fn run(_global: &Global, _args: &DoctorArgs) -> Result<()> {
    Ok(())
}
