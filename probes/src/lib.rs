//! BPF programs and their loader: backends, attach/detach, events.
pub mod event;
pub use event::RawEvent;
