//! The directory: the in-memory view of projects, endpoints and keys that
//! the request path reads, refreshed from the store.
