//! The hasher of the hot maps of a run (the executor's keys, the memory
//! store's results). Its own module so that the executor and the stores
//! share it without depending on each other.

/// Keys are hashed several times per item, and SipHash showed up as a tenth
/// of the driver's time.
pub(crate) type FastHash = foldhash::fast::RandomState;
