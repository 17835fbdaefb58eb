//! The supervisor's section: the read model ([`crate::history`]) rendered
//! as markdown through templates ([`render`]), cut to a byte budget
//! ([`budget`]) so it fits a prompt. `report` prints it and writes it into
//! the knowledge file; `mcp` answers with it.

pub mod budget;
pub mod render;
