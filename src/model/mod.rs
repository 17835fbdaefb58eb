//! The shared vocabulary: what a stack is and how a container is assigned
//! to one, the plain data of one pass, what the store remembers of a size,
//! and sizes for people. Everything above uses these words; nothing here
//! imports from above.

pub mod labels;
pub mod sizes;
pub mod snapshot;
pub mod stack;
pub mod units;
