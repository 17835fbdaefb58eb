//! What `stackwatch report` writes besides printing the section: the
//! knowledge file (the section between its markers) and one vault item per
//! finding a human should approve, each written atomically and checked.

pub mod outputs;
