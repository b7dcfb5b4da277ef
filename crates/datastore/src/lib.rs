//! Calico datastore.
